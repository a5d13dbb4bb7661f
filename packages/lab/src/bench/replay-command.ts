import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { LabClient } from '../client/client.ts'
import type { Clock } from '../clock/clock.ts'
import type { CliIo, ExitCode } from '../io.ts'
import { readTraceFile } from '../sim/trace.ts'
import { Replay } from './replay.ts'
import { replayResult, type ReplayResult } from './replay-result.ts'

export interface ReplayFlags {
  readonly url?: string
  readonly key?: string
  readonly pool: string
  readonly speed: number
  readonly out?: string
  readonly sampleMs: number
}

/**
 * The system clock with timers that keep the process alive: between two arrivals a replay may
 * have nothing else pending (systemClock's timers are unref'd for the gateway's sake).
 */
export const replayClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms))
    return () => clearTimeout(t)
  },
}

/** `infra-lab replay TRACE --url URL --key KEY`: the trace through a live gateway; the sim's JSON shape out. */
export async function replayCommand(file: string, flags: ReplayFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  const fail = (m: string, code: ExitCode = 2): ExitCode => { io.stderr.write(`infra-lab replay: ${m}\n`); return code }
  const url = flags.url ?? io.env.INFRA_LAB_URL
  const key = flags.key ?? io.env.INFRA_LAB_API_KEY
  if (!url) return fail('give the gateway with --url (or INFRA_LAB_URL)')
  if (!key) return fail('give an API key with --key (or INFRA_LAB_API_KEY)')
  let result: ReplayResult
  try {
    result = await runReplayFile(file, { url, key, pool: flags.pool, speed: flags.speed, sampleMs: flags.sampleMs }, io, signal)
  } catch (err) {
    return fail((err as Error).message, 1)
  }
  const json = `${JSON.stringify(result)}\n`
  if (flags.out) {
    const out = resolve(io.cwd, flags.out)
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(out, json)
    io.stderr.write(`replay: wrote ${out}\n`)
  } else io.stdout.write(json)
  return result.replay.partial ? 130 : 0
}

/** Reads the trace, replays it against the gateway at `url`, and shapes the result. */
export async function runReplayFile(file: string, o: { url: string; key: string; pool: string; speed: number; sampleMs: number; clock?: Clock }, io: CliIo, signal?: AbortSignal): Promise<ReplayResult> {
  const path = resolve(io.cwd, file)
  const trace = await readTraceFile(path, Date.now())
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const last = trace.t.length ? trace.t[trace.t.length - 1]! / o.speed : 0
  log(`replay: ${trace.t.length} arrivals over ${last.toFixed(1)} s (speed ${o.speed}) into pool ${o.pool} at ${o.url}`)
  const replay = new Replay(new LabClient(o.url, o.key), {
    trace, speed: o.speed, pool: o.pool, clock: o.clock ?? replayClock, sampleEveryMs: o.sampleMs, progress: log, ...(signal ? { signal } : {}),
  })
  const run = await replay.run()
  return replayResult(run, file)
}
