import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import type { LabClient } from '../client/client.ts'
import { PoolHostSampler, gatewayStats, procStats, type PoolHostSample, type PoolHostSummary, type ProcStats } from './load-probe.ts'
import { LOAD_STEPS, runUserSession, type LoadStep } from './load-session.ts'

export interface LoadOptions {
  /** Sessions of the measured run (ignored with `durationS`). */
  readonly sessions: number
  /** Run for this long instead of a count. */
  readonly durationS?: number
  readonly concurrency: number
  /** Sessions before the measured run (the gateway's JIT, the users' first workspaces); their outcomes count too. */
  readonly warmup: number
  readonly stepTimeoutMs: number
  readonly pool: string
  /** The pool's warm target: each phase starts once it is full, and the run ends once it is full again. */
  readonly poolSize: number
  /** How often the pool's counts are compared with the driver's list. */
  readonly sampleEveryMs: number
}

export interface LoadTarget {
  readonly client: LabClient
  /** The gateway's process id (RSS, descriptors). */
  readonly pid: number
  /** Sandboxes of the pool the driver lists on the host. */
  readonly hostCount: () => Promise<number>
}

export interface LoadRun {
  /** Sessions of the measured run, and of the warm-up before it. */
  readonly attempted: number
  readonly warmupAttempted: number
  /** Sessions that succeeded end to end, of the measured run and of the warm-up. */
  readonly succeeded: number
  readonly warmupSucceeded: number
  readonly warmHits: number
  /** Failure (code or ended reason) -> count, warm-up included, and whether the gateway said to retry. */
  readonly failures: readonly { readonly failure: string; readonly count: number; readonly retryable: boolean }[]
  /** The measured sessions' step latencies, ms. */
  readonly stepMs: Readonly<Record<LoadStep, readonly number[]>>
  readonly durationS: number
  /**
   * The gateway process at rest (full pool, no session, the client's connections closed): before
   * the warm-up, before the measured run (`start`) and after it (`end`); and during the run,
   * with the client's connections open.
   */
  readonly gateway: {
    readonly beforeWarmup: ProcStats
    readonly start: ProcStats
    readonly end: ProcStats
    readonly samples: readonly (Pick<ProcStats, 'rssMiB' | 'fds'> & { sessions: number })[]
  }
  readonly poolVsHost: PoolHostSummary & { readonly atRest: PoolHostSample }
  readonly partial: boolean
}

const SETTLE_TIMEOUT_MS = 120_000
/** At rest before the gateway is measured: longer than Node's 5 s keep-alive idle timeout, so its idle connections (to dockerd) are closed. */
const SETTLE_MS = 6000
const PROGRESS_EVERY_MS = 15_000

type Tally = { started: number; finished: number; succeeded: number; warmHits: number }

/**
 * `concurrency` clients, each running user sessions end to end (load-session.ts) back to back:
 * a warm-up of `warmup` sessions, a rest, then the measured run of `sessions` (or `durationS`).
 * A 503's Retry-After is honoured before that client's next try. The pool's counts are checked
 * against the driver's list throughout.
 */
export async function runLoad(target: LoadTarget, o: LoadOptions, progress: (line: string) => void, signal: AbortSignal): Promise<LoadRun> {
  const { client } = target
  const failures = new Map<string, { count: number; retryable: boolean }>()
  const stepMs = Object.fromEntries(LOAD_STEPS.map((s) => [s, [] as number[]])) as Record<LoadStep, number[]>
  const samples: (Pick<ProcStats, 'rssMiB' | 'fds'> & { sessions: number })[] = []
  const sampler = new PoolHostSampler(client, o.pool, target.hostCount, o.sampleEveryMs)

  /** One phase: clients loop until `more()` says no; returns its tally. */
  const phase = async (more: (t: Tally) => boolean, measured: boolean, onFinished: (t: Tally) => void): Promise<Tally> => {
    const t: Tally = { started: 0, finished: 0, succeeded: 0, warmHits: 0 }
    await Promise.all(Array.from({ length: o.concurrency }, async (_, k) => {
      while (!signal.aborted && more(t)) {
        const n = t.started++
        const r = await runUserSession(client, { pool: o.pool, user: `load-${k}`, n, stepTimeoutMs: o.stepTimeoutMs })
        t.finished++
        if (r.ok) {
          t.succeeded++
          if (r.warm) t.warmHits++
          if (measured) for (const s of LOAD_STEPS) stepMs[s].push(r.ms[s])
        } else {
          const f = failures.get(r.failure) ?? { count: 0, retryable: r.retryable }
          f.count++
          failures.set(r.failure, f)
        }
        onFinished(t)
        if (!r.ok && r.retryAfterS !== undefined) await sleep(r.retryAfterS * 1000, undefined, { signal }).catch(() => undefined)
      }
    }))
    return t
  }

  const atRest = async () => {
    await waitForRest(client, o, signal)
    await sleep(SETTLE_MS)
    return gatewayStats(target.pid, client)
  }
  const beforeWarmup = await atRest()
  let durationS = 0
  let run: Tally = { started: 0, finished: 0, succeeded: 0, warmHits: 0 }
  let warm: Tally = run
  let start = beforeWarmup
  try {
    if (o.warmup > 0) {
      progress(`  warm-up: ${o.warmup} sessions …`)
      warm = await phase((t) => t.started < o.warmup, false, () => undefined)
    }
    start = await atRest()
    sampler.start() // after, so its connection is not counted as the gateway's
    const t0 = performance.now()
    const deadline = o.durationS === undefined ? Infinity : t0 + o.durationS * 1000
    const sampleEvery = o.durationS === undefined ? Math.max(1, Math.floor(o.sessions / 20)) : Infinity
    let lastLine = t0
    run = await phase((t) => (o.durationS === undefined ? t.started < o.sessions : performance.now() < deadline), true, (t) => {
      if (t.finished % sampleEvery !== 0 && performance.now() - lastLine < PROGRESS_EVERY_MS) return
      lastLine = performance.now()
      const p = procStats(target.pid)
      samples.push({ ...p, sessions: t.finished })
      const failed = [...failures].map(([f, v]) => `${f}: ${v.count}`).join(', ') || 'none'
      progress(`  ${t.finished}${o.durationS === undefined ? `/${o.sessions}` : ''} sessions, ${(t.succeeded / ((lastLine - t0) / 1000)).toFixed(1)}/s; failures ${failed}; gateway RSS ${p.rssMiB} MiB, ${p.fds} fds`)
    })
    durationS = (performance.now() - t0) / 1000
  } finally {
    await sampler.stop()
  }
  progress(`  load done: ${run.finished} sessions in ${durationS.toFixed(0)} s; waiting for the pool to come to rest …`)
  const end = await atRest()
  const poolAtRest = await sampler.sample()
  return {
    attempted: run.finished, warmupAttempted: warm === run ? 0 : warm.finished,
    succeeded: run.succeeded, warmupSucceeded: warm === run ? 0 : warm.succeeded, warmHits: run.warmHits,
    failures: [...failures].map(([failure, v]) => ({ failure, ...v })).sort((a, b) => b.count - a.count),
    stepMs, durationS, partial: signal.aborted,
    gateway: { beforeWarmup, start, end, samples },
    poolVsHost: { ...sampler.summary(), atRest: poolAtRest },
  }
}

/** Until the pool holds its full warm target and nothing else (no session, start or destroy in flight). */
async function waitForRest(client: LabClient, o: LoadOptions, signal: AbortSignal): Promise<void> {
  const end = Date.now() + SETTLE_TIMEOUT_MS
  for (;;) {
    const s = (await client.pool(o.pool)).status
    if (s.ready >= o.poolSize && s.total === s.ready) return
    if (signal.aborted) return
    if (Date.now() > end) throw new Error(`the pool did not come to rest within ${SETTLE_TIMEOUT_MS / 1000} s: ${JSON.stringify(s)}`)
    await sleep(100)
  }
}
