import { spawn } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import type { LabClient } from '../client/client.ts'
import { answerJson, type BenchHttp } from './exec-http.ts'
import { waitForReady } from './startup.ts'

/** The series `bench exec` times, interleaved: the references and what they judge. */
export const LATENCY_SERIES = ['floorFirst', 'spawn', 'first', 'roundTrip', 'floorRoundTrip'] as const
export type LatencySeries = (typeof LATENCY_SERIES)[number]

export interface LatencyTargets {
  /** The gateway (exec routes) and the pool it claims from; `pool` pacing reads go through `lab`. */
  readonly gateway: BenchHttp
  readonly lab: LabClient
  readonly pool: string
  readonly poolSize: number
  /** The transport floor (floor-server.ts): the same requests on the gateway's stack, doing no work. */
  readonly floor: BenchHttp
}

/** Per series, one value per measured iteration (ms); the first-command steps and the agent's own figures beside. */
export interface LatencyRun {
  readonly iterations: number
  readonly warmup: number
  readonly ms: Record<LatencySeries, number[]>
  /**
   * Time to first command, split: the POST answered, then the exec answered; and, after the
   * timed part, a second exec on the same new session (what the first one pays once).
   */
  readonly firstSteps: { readonly postMs: number[]; readonly execMs: number[]; readonly secondExecMs: number[]; readonly floorPostMs: number[]; readonly floorExecMs: number[] }
  /** The exec answer's `durationMs` (the process's run as the sandbox saw it), per first command and per round trip. */
  readonly agentMs: { readonly first: number[]; readonly roundTrip: number[] }
  /** The gateway's timings of each measured first command's session: the claim's, and the agent's answer to it (read after the second exec). */
  readonly claimTimings: Record<string, number>[]
  /** Measured first commands whose claim found a warm sandbox (the create answer's `warm`). */
  readonly warmClaims: number
  readonly partial: boolean
}

interface ExecAnswer { exitCode: number | null; signal: string | null; timedOut: boolean; durationMs: number }
interface Created { id: string; warm: boolean; timings: Record<string, number> }

const TRUE_CMD = { cmd: ['true'] }
const FIRST_USER = 'bench-exec-first'

/** The exec answer of `true`, or an error: a figure of a failed run would not be a measurement. */
function execOk(a: Awaited<ReturnType<BenchHttp['json']>>, what: string): ExecAnswer {
  const r = answerJson<ExecAnswer>(a, 200, what)
  if (r.exitCode !== 0) throw new Error(`${what}: \`true\` exited with ${r.exitCode} (signal ${r.signal}, timed out ${r.timedOut})`)
  return r
}

/** `child_process.spawn('true')` in this process, to its exit: what starting a process costs on the host. */
export function hostSpawnMs(): Promise<number> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn('true', { stdio: 'ignore' })
    child.once('error', reject)
    child.once('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`host \`true\` exited with ${code}`))))
  })
}

/**
 * Runs `iterations + warmup` rounds; each round takes one sample of every series, starting at a
 * different series each round so none always follows another and load on the machine falls on
 * all alike. The pool is full and no refill runs before every sample: a first command's claim
 * starts a refill (as in production), and it must not land on the next series' sample.
 */
export async function runLatency(t: LatencyTargets, roundTripSession: string, o: { iterations: number; warmup: number }, signal: AbortSignal, log: (s: string) => void): Promise<LatencyRun> {
  const ms = Object.fromEntries(LATENCY_SERIES.map((s) => [s, [] as number[]])) as Record<LatencySeries, number[]>
  const firstSteps = { postMs: [] as number[], execMs: [] as number[], secondExecMs: [] as number[], floorPostMs: [] as number[], floorExecMs: [] as number[] }
  const agentMs = { first: [] as number[], roundTrip: [] as number[] }
  const claimTimings: Record<string, number>[] = []
  let warmClaims = 0
  const rtPath = `/v1/sessions/${roundTripSession}/exec`
  const total = o.iterations + o.warmup
  let done = 0
  for (let i = 0; i < total && !signal.aborted; i++) {
    const keep = i >= o.warmup
    for (let k = 0; k < LATENCY_SERIES.length; k++) {
      const series = LATENCY_SERIES[(i + k) % LATENCY_SERIES.length]!
      await waitForReady(t.lab, t.pool, t.poolSize)
      switch (series) {
        case 'spawn': {
          const v = await hostSpawnMs()
          if (keep) ms.spawn.push(v)
          break
        }
        case 'roundTrip': {
          const t0 = performance.now()
          const r = execOk(await t.gateway.json('POST', rtPath, TRUE_CMD), 'exec on a running session')
          const v = performance.now() - t0
          if (keep) {
            ms.roundTrip.push(v)
            agentMs.roundTrip.push(r.durationMs)
          }
          break
        }
        case 'floorRoundTrip': {
          const t0 = performance.now()
          execOk(await t.floor.json('POST', '/v1/sessions/ses_floor/exec', TRUE_CMD), 'exec on the floor server')
          if (keep) ms.floorRoundTrip.push(performance.now() - t0)
          break
        }
        case 'first':
        case 'floorFirst': {
          const client = series === 'first' ? t.gateway : t.floor
          const t0 = performance.now()
          const s = answerJson<Created>(await client.json('POST', '/v1/sessions', { user: FIRST_USER, pool: t.pool }), 201, 'POST /v1/sessions')
          const t1 = performance.now()
          const r = execOk(await client.json('POST', `/v1/sessions/${s.id}/exec`, TRUE_CMD), 'the first command of a new session')
          const t2 = performance.now()
          let second = Number.NaN
          let timings = s.timings
          if (series === 'first') {
            execOk(await client.json('POST', `/v1/sessions/${s.id}/exec`, TRUE_CMD), 'a second command of a new session')
            second = performance.now() - t2
            timings = { ...timings, ...answerJson<Created>(await client.json('GET', `/v1/sessions/${s.id}`), 200, 'GET /v1/sessions/{id}').timings }
          }
          // Answered once the sandbox is destroyed: nothing of this session is left for the next sample.
          const end = await client.json('DELETE', `/v1/sessions/${s.id}`)
          if (end.status !== 204) throw new Error(`DELETE /v1/sessions/${s.id}: HTTP ${end.status}`)
          if (!keep) break
          ms[series].push(t2 - t0)
          if (series === 'first') {
            firstSteps.postMs.push(t1 - t0)
            firstSteps.execMs.push(t2 - t1)
            firstSteps.secondExecMs.push(second)
            agentMs.first.push(r.durationMs)
            claimTimings.push(timings)
            if (s.warm) warmClaims++
          } else {
            firstSteps.floorPostMs.push(t1 - t0)
            firstSteps.floorExecMs.push(t2 - t1)
          }
          break
        }
      }
    }
    done++
    if (done % 50 === 0) log(`  latency: ${done}/${total} rounds`)
  }
  return { iterations: Math.max(0, done - o.warmup), warmup: Math.min(done, o.warmup), ms, firstSteps, agentMs, claimTimings, warmClaims, partial: done < total }
}
