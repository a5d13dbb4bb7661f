import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { LabClient } from '../client/client.ts'
import { RssSampler, TailTerminal } from './backpressure-clients.ts'
import { formatMs } from './report.ts'
import { msStats } from './startup-report.ts'

export interface BackpressureOptions {
  /** Bytes of output per flood, in MiB (`yes | head -c <n>M`). */
  readonly floodMiB: number
  /** Rounds of (baseline, flood). */
  readonly rounds: number
  /** Echo round trips per baseline phase; a flood phase takes as many as fit in the flood. */
  readonly baselineSamples: number
  /** Pause between two round trips, so the probe types like a person rather than a loop. */
  readonly gapMs: number
}

export interface BackpressureTarget {
  readonly url: string
  readonly apiKey: string
  /** The gateway's process id, for its VmRSS. */
  readonly pid: number
  /** The gateway's workspaces directory: the flood's shell leaves a marker file there when done. */
  readonly workspacesDir: string
}

export interface BackpressureRound {
  readonly round: number
  readonly baselineMs: readonly number[]
  readonly floodMs: readonly number[]
  readonly floodSeconds: number
  readonly rssAtFloodStartMiB: number
  readonly rssPeakMiB: number
  /** Close code the slow viewer saw once it read again after the flood (undefined: still open). */
  readonly slowViewerClose: number | undefined
  /** Bytes a fresh viewer of the flooded session got on re-attach (the scrollback). */
  readonly reattachBytes: number
}

export interface BackpressureRun {
  readonly rounds: readonly BackpressureRound[]
  /** Before the first flood, the largest sample of the run, and after the last flood. */
  readonly rss: { readonly beforeMiB: number; readonly peakMiB: number; readonly afterMiB: number; readonly samples: readonly { atMs: number; mib: number }[] }
  readonly partial: boolean
}

const FLOOD_USER = 'bench-flood'
const PROBE_USER = 'bench-probe'
const WARMUP_ROUND_TRIPS = 20
const ROUND_TRIP_TIMEOUT_MS = 30_000
const FLOOD_TIMEOUT_MS = 15 * 60_000
const SETTLE_MS = 2000

/**
 * Session A runs `yes | head -c <floodMiB>M` with one viewer that never reads; session B types
 * `echo <n>` and waits for the line to come back, during the flood and (alternating, in the
 * same run) with no flood. The gateway's VmRSS is sampled throughout.
 */
export async function runBackpressureBench(target: BackpressureTarget, opts: BackpressureOptions, progress: (line: string) => void, signal: AbortSignal): Promise<BackpressureRun> {
  const client = new LabClient(target.url, target.apiKey)
  const rss = new RssSampler(target.pid)
  const rounds: BackpressureRound[] = []
  const terminals: TailTerminal[] = []
  const open = async (sessionId: string) => {
    const t = await TailTerminal.open(client, await client.attach(sessionId))
    terminals.push(t)
    return t
  }
  const sessions: string[] = []
  try {
    await waitForWarm(client, 2, signal)
    const a = await client.createSession({ user: FLOOD_USER })
    sessions.push(a.id)
    const b = await client.createSession({ user: PROBE_USER })
    sessions.push(b.id)
    const probe = await open(b.id)
    await probe.waitFor('$ ', 20_000, 'the prompt of session B')
    let n = 100_000
    for (let i = 0; i < WARMUP_ROUND_TRIPS; i++) await probe.echoRoundTrip(n++, ROUND_TRIP_TIMEOUT_MS)
    rss.start()
    let beforeMiB = rss.read()

    for (let r = 1; r <= opts.rounds && !signal.aborted; r++) {
      const baselineMs: number[] = []
      for (let i = 0; i < opts.baselineSamples && !signal.aborted; i++) {
        baselineMs.push(await probe.echoRoundTrip(n++, ROUND_TRIP_TIMEOUT_MS))
        await sleep(opts.gapMs)
      }
      progress(`  round ${r}/${opts.rounds}: no flood: ${baselineMs.length} echo round trips, p50 ${formatMs(msStats(baselineMs, 0).p50)} ms`)
      if (signal.aborted) break

      const fromSample = rss.samples.length
      const rssAtFloodStartMiB = rss.read()
      if (r === 1) beforeMiB = rssAtFloodStartMiB
      const slow = await open(a.id)
      slow.pauseReading()
      const marker = join(target.workspacesDir, FLOOD_USER, `.bench-flood-${r}`)
      const t0 = performance.now()
      slow.type(`yes | head -c ${opts.floodMiB}M; touch ~/.bench-flood-${r}\r`)
      const floodMs: number[] = []
      while (!existsSync(marker) && !signal.aborted) {
        if (performance.now() - t0 > FLOOD_TIMEOUT_MS) throw new Error(`the flood of round ${r} did not finish within ${FLOOD_TIMEOUT_MS / 60_000} min`)
        floodMs.push(await probe.echoRoundTrip(n++, ROUND_TRIP_TIMEOUT_MS))
        await sleep(opts.gapMs)
      }
      const floodSeconds = (performance.now() - t0) / 1000
      const rssPeakMiB = rss.peakSince(fromSample)
      slow.resumeReading()
      const slowViewerClose = await slow.closed(5000)
      slow.terminate()
      const again = await open(a.id)
      await again.waitFor('$ ', 10_000, 'the prompt in the re-attached scrollback of session A')
      again.terminate()
      rounds.push({ round: r, baselineMs, floodMs, floodSeconds, rssAtFloodStartMiB, rssPeakMiB, slowViewerClose, reattachBytes: again.bytes })
      progress(`  round ${r}/${opts.rounds}: ${opts.floodMiB} MiB flood in ${floodSeconds.toFixed(1)} s: ${floodMs.length} echo round trips, p50 ${formatMs(msStats(floodMs, 0).p50)} ms; gateway RSS ${rssAtFloodStartMiB.toFixed(0)} -> peak ${rssPeakMiB.toFixed(0)} MiB; slow viewer closed with ${slowViewerClose ?? 'nothing (still open)'}`)
    }
    await sleep(SETTLE_MS)
    const afterMiB = rss.read()
    rss.stop()
    const peakMiB = rss.peakSince(0)
    return { rounds, rss: { beforeMiB, peakMiB, afterMiB, samples: rss.samples }, partial: signal.aborted || rounds.length < opts.rounds }
  } finally {
    rss.stop()
    for (const t of terminals) t.terminate()
    for (const id of sessions) await client.deleteSession(id).catch(() => undefined)
  }
}

async function waitForWarm(client: LabClient, n: number, signal: AbortSignal): Promise<void> {
  const end = Date.now() + 60_000
  while ((await client.pool('default')).status.ready < n) {
    if (signal.aborted) throw new Error('interrupted')
    if (Date.now() > end) throw new Error(`the pool did not reach ${n} warm sandboxes within 60 s`)
    await sleep(100)
  }
}
