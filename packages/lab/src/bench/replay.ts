import { performance } from 'node:perf_hooks'
import type { PoolSandboxCounts } from '../pool/pool-counts.ts'
import type WebSocket from 'ws'
import { ApiRequestError, type LabClient, type Pool } from '../client/client.ts'
import type { Clock } from '../clock/clock.ts'
import type { Trace } from '../sim/trace.ts'
import { CreateDurations } from './replay-metrics.ts'

/** How one arrival went: its path through the claim, or why it failed. */
export type ReplayPath = 'warm' | 'cold' | 'failed'

export interface ReplayArrival {
  /** When it was due and when the create was sent, seconds after the replay's start (compressed time). */
  readonly atS: number
  readonly sentS: number
  /** Its session length, compressed (the trace's durationS / speed). */
  readonly durationS: number
  readonly path: ReplayPath
  /** The gateway's claim time (its `timings.claimMs`): the wait the simulator models. */
  readonly claimMs?: number
  /** The cold path's create, as the gateway timed it (`timings.coldStartMs`). */
  readonly coldStartMs?: number
  /** POST sent -> 201 read, on this client. */
  readonly postMs?: number
  /** `<status> <code>` of a failed create, or what failed after it. */
  readonly failure?: string
}

/** One look at the pool (GET /v1/pools/{name}), seconds after the replay's start. */
export interface PoolSample extends PoolSandboxCounts {
  readonly tS: number
  readonly target: number
}

export interface ReplayRun {
  readonly pool: { readonly name: string; readonly spec: Readonly<Record<string, unknown>> }
  readonly speed: number
  readonly startedAt: string
  /** Last session's due end, (t + durationS) / speed over the trace: the window the figures cover. */
  readonly endS: number
  readonly wallS: number
  readonly arrivals: readonly ReplayArrival[]
  readonly samples: readonly PoolSample[]
  /** Each sandbox create's own duration (s), launch to ready, from the pool's status (`status.starts`). */
  readonly createsS: readonly number[]
  /** When each of createsS was launched, seconds after the replay's start (negative: before it). */
  readonly createsAtS: readonly number[]
  /** Creates that finished but were not seen: more finished between two looks at the pool than its status lists. */
  readonly createsMissed: number
  readonly createFailures: number
  readonly partial: boolean
}

export interface ReplayOptions {
  readonly trace: Trace
  readonly speed: number
  readonly pool: string
  /** Times the arrivals, the session ends and the looks at the pool: the system clock, or a manual one in tests. */
  readonly clock: Clock
  /** How often the pool and /metrics are read (clock ms). */
  readonly sampleEveryMs: number
  /** Real ms to wait for the pool to be full before the first arrival. */
  readonly settleTimeoutMs?: number
  readonly progress?: (line: string) => void
  readonly signal?: AbortSignal
}

/** Users of a trace without a user column: enough that the per-user session limit never binds. */
const USERS = 64
const PROGRESS_EVERY = 250
const TERMINAL_OPEN_TIMEOUT_MS = 30_000

export class ReplayFailed extends Error {
  override readonly name = 'ReplayFailed'
}

/**
 * Drives a live gateway with a trace, time-compressed by `speed`: each arrival creates a
 * session at t / speed, opens its terminal (a WebSocket, as a user would) and keeps it open for
 * durationS / speed from the moment the create answered, then ends it (DELETE). Meanwhile the
 * pool's counts and the gateway's create durations are read every `sampleEveryMs`.
 */
export class Replay {
  /** Requests and terminal opens in flight now (tests wait for 0 before they move a manual clock). */
  busy = 0
  /** Sessions created and not yet ended by the replay. */
  open = 0
  /** The timeline has begun: the pool was full and the first arrival is scheduled. */
  started = false
  private readonly arrivals: (ReplayArrival | undefined)[]
  private readonly samples: PoolSample[] = []
  private readonly creates = new CreateDurations()
  private readonly sessions = new Set<Promise<void>>()
  private readonly sockets = new Set<WebSocket>()
  private t0 = 0
  private sampling = false
  private cancelSample: (() => void) | undefined
  private done = 0

  constructor(private readonly client: LabClient, private readonly o: ReplayOptions) {
    if (!o.trace.durationS) throw new ReplayFailed('the trace has no durationS column: a replay needs each session\'s length (infra-lab trace gen --session ...)')
    if (!(o.speed > 0)) throw new ReplayFailed('--speed must be > 0')
    this.arrivals = new Array(o.trace.t.length)
  }

  /** Checks the pool, waits until it is full, replays every arrival, and waits for every session to end. */
  async run(): Promise<ReplayRun> {
    const { clock, trace, speed, signal } = this.o
    const pool = await this.checkPool()
    await this.settle()
    const wall0 = performance.now()
    this.t0 = clock.now()
    const startedAt = new Date().toISOString()
    // Baselines: creates before the replay are not its own.
    this.creates.update((await this.client.pool(this.o.pool)).status.starts)
    await this.creates.readFailures(this.client)
    this.sample()
    const n = trace.t.length
    let endS = 0
    for (let i = 0; i < n; i++) endS = Math.max(endS, (trace.t[i]! + trace.durationS![i]!) / speed)
    await new Promise<void>((resolve) => {
      let i = 0
      const fire = () => {
        while (i < n && !signal?.aborted && this.dueMs(i) <= clock.now()) this.launch(i++)
        if (i >= n || signal?.aborted) { resolve(); return }
        clock.setTimer(this.dueMs(i) - clock.now(), fire)
      }
      if (n === 0) resolve()
      else clock.setTimer(this.dueMs(0) - clock.now(), fire)
      this.started = true
    })
    while (this.sessions.size > 0) await Promise.allSettled([...this.sessions])
    this.cancelSample?.()
    while (this.sampling) await new Promise((r) => setTimeout(r, 5))
    await this.sampleNow()
    return {
      pool: { name: pool.name, spec: pool.spec }, speed, startedAt, endS, wallS: (performance.now() - wall0) / 1000,
      arrivals: this.arrivals.filter((a): a is ReplayArrival => a !== undefined), samples: this.samples,
      createsS: this.creates.durationsS, createsAtS: this.creates.launchedAtMs.map((at) => (at - this.t0) / 1000),
      createsMissed: this.creates.missed, createFailures: this.creates.failures,
      partial: signal?.aborted ?? false,
    }
  }

  private dueMs(i: number): number {
    return this.t0 + (this.o.trace.t[i]! / this.o.speed) * 1000
  }

  private sinceStartS(): number {
    return (this.o.clock.now() - this.t0) / 1000
  }

  private async checkPool(): Promise<Pool> {
    try {
      return await this.client.pool(this.o.pool)
    } catch (err) {
      throw new ReplayFailed(describe(err, this.o.pool, this.client.baseUrl))
    }
  }

  /** Waits (real time) until the pool holds its target ready and starts nothing. */
  private async settle(): Promise<void> {
    const until = Date.now() + (this.o.settleTimeoutMs ?? 120_000)
    for (;;) {
      const st = (await this.client.pool(this.o.pool)).status
      if (st.ready >= st.target && st.starting === 0 && st.coldStarting === 0) return
      if (Date.now() > until) throw new ReplayFailed(`pool ${this.o.pool} did not fill within ${this.o.settleTimeoutMs ?? 120_000} ms (ready ${st.ready}, target ${st.target}, starting ${st.starting}, claimed ${st.claimed}${st.lastError ? `, last error: ${st.lastError}` : ''})`)
      this.o.signal?.throwIfAborted()
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  private launch(i: number): void {
    const p = this.session(i).finally(() => this.sessions.delete(p))
    this.sessions.add(p)
  }

  private async session(i: number): Promise<void> {
    const { trace, speed, clock, pool } = this.o
    const atS = trace.t[i]! / speed
    const durationS = trace.durationS![i]! / speed
    const user = trace.user?.[i] ?? `replay-${i % USERS}`
    const sentS = this.sinceStartS()
    this.busy++
    let created
    const p0 = performance.now()
    try {
      created = await this.client.createSession({ user, pool })
    } catch (err) {
      this.busy--
      this.arrivals[i] = { atS, sentS, durationS, path: 'failed', failure: err instanceof ApiRequestError ? `${err.status} ${err.code}` : `client error: ${(err as Error).message}` }
      this.progress()
      return
    }
    const postMs = performance.now() - p0
    const t = created.timings
    this.arrivals[i] = {
      atS, sentS, durationS, path: created.warm ? 'warm' : 'cold', postMs,
      ...(t.claimMs !== undefined ? { claimMs: t.claimMs } : {}), ...(t.coldStartMs !== undefined ? { coldStartMs: t.coldStartMs } : {}),
    }
    this.open++
    const ws = this.client.openTerminal(created.attach)
    this.sockets.add(ws)
    const opened = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve('terminal did not open'), TERMINAL_OPEN_TIMEOUT_MS)
      ws.once('open', () => { clearTimeout(timer); resolve(undefined) })
      ws.once('error', (e) => { clearTimeout(timer); resolve(`terminal: ${e.message}`) })
    })
    if (opened) this.arrivals[i] = { ...this.arrivals[i]!, failure: opened }
    this.busy--
    // busy is counted in the timer itself, so a test that moves a manual clock sees the end at once.
    await new Promise<void>((resolve) => clock.setTimer(durationS * 1000, () => { this.busy++; resolve() }))
    ws.terminate()
    this.sockets.delete(ws)
    try {
      await this.client.deleteSession(created.id)
    } catch (err) {
      // A session the gateway ended first (idle, lifetime) is not the replay's failure.
      if (!(err instanceof ApiRequestError && (err.code === 'session_ended' || err.status === 404))) {
        this.arrivals[i] = { ...this.arrivals[i]!, failure: `end: ${(err as Error).message}` }
      }
    } finally {
      this.open--
      this.busy--
      this.progress()
    }
  }

  private progress(): void {
    this.done++
    const n = this.o.trace.t.length
    if (this.done % PROGRESS_EVERY === 0 || this.done === n) {
      const a = this.arrivals.filter((x) => x !== undefined)
      const warm = a.filter((x) => x.path === 'warm').length
      this.o.progress?.(`replay: ${this.done}/${n} done at ${this.sinceStartS().toFixed(1)} s; ${warm} warm, ${a.filter((x) => x.path === 'cold').length} cold, ${a.filter((x) => x.path === 'failed').length} failed`)
    }
  }

  private sample(): void {
    this.cancelSample = this.o.clock.setTimer(this.o.sampleEveryMs, () => {
      if (!this.sampling) void this.sampleNow()
      this.sample()
    })
  }

  private async sampleNow(): Promise<void> {
    this.sampling = true
    this.busy++
    const tS = this.sinceStartS()
    try {
      const st = (await this.client.pool(this.o.pool)).status
      this.samples.push({ tS, ready: st.ready, starting: st.starting, coldStarting: st.coldStarting, claimed: st.claimed, destroying: st.destroying, total: st.total, target: st.target })
      this.creates.update(st.starts)
      await this.creates.readFailures(this.client)
    } catch (err) {
      this.o.progress?.(`replay: reading the pool failed at ${tS.toFixed(1)} s: ${(err as Error).message}`)
    } finally {
      this.busy--
      this.sampling = false
    }
  }
}

function describe(err: unknown, pool: string, url: string): string {
  if (!(err instanceof ApiRequestError)) return (err as Error).message
  if (err.status === 0) return `cannot reach the gateway at ${url} (is it running? --url)`
  if (err.status === 401 || err.status === 403) return `the gateway refused the API key (${err.status} ${err.code}): check --key`
  if (err.status === 404) return `the gateway has no pool named ${pool} (--pool)`
  return `GET /v1/pools/${pool}: ${err.status} ${err.code}: ${err.message}`
}
