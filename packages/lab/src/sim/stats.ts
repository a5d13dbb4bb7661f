import type { Scenario } from './scenario.ts'

/** Counters the host model reports. */
export interface HostCounters {
  launches: { spare: number; hibernated: number; stopped: number; cold: number }
  interruptions: number
  azLost: number
}

export interface Counts {
  readonly ready: number
  readonly warmStarting: number
  readonly coldStarting: number
  readonly claimed: number
}

export interface WaitSummary {
  p50S: number; p95S: number; p99S: number; maxS: number; meanS: number
  /** Share of claims that waited longer than a warm claim (claimS). */
  waitedShare: number
}

export interface SimResult {
  name: string | null
  sessions: number
  warmHits: number
  coldStarts: number
  warmHitRate: number
  wait: WaitSummary
  cost: { total: number; perHour: number; per1000Sessions: number; breakdown: Record<string, number> }
  /** Sandbox-seconds: the time integral of sandboxes alive (ready, starting or claimed), from warmupS on. */
  sandboxS: number
  /** sandbox: claimed share of sandbox-time; host: sandbox-time share of host slot-time. */
  utilization: { sandbox: number; host: number | null }
  interruptions: { hostInterruptions: number; azHostsLost: number; sessionsMoved: number; sessionsLost: number }
  pool: { meanTarget: number; modeTarget: number; modeTargetShare: number; meanReady: number; hostLaunches: HostCounters['launches'] | null }
  /**
   * Sandbox creates that finished (ok or failed), and warm sandboxes replaced for age
   * (maxWarmAgeS); `claimsFailed` are claims whose cold create failed (also among coldStarts).
   */
  creates: { ok: number; failed: number; recycled: number; claimsFailed: number }
  events: number
  /** Charts: time series and the cold-wait histogram (left out of `--json` unless asked). */
  series: { tS: number[]; ready: number[]; starting: number[]; claimed: number[]; target: number[]; arrivalsPerS: number[]; hosts: number[] }
  waitHistogram: { edgesS: number[]; counts: number[] }
  /** Every claim from warmupS on, in the order its wait became known (with `logClaims`): claim time, warm or cold, wait. */
  claims?: ClaimLog
  perf: { wallS: number; eventsPerS: number }
}

/** Claims with a session (time, warm or cold, wait), and the times of the claims refused or failed. */
export interface ClaimLog { tS: number[]; warm: boolean[]; waitS: number[]; failedAtS: number[] }

/** Collects what a run reports. Waits and time integrals count from warmupS on. */
export class Stats {
  private readonly warmup: number
  private last = 0
  private readyArea = 0
  private aliveArea = 0
  private claimedArea = 0
  private targetArea = 0
  private currentTarget = 0
  private targetDt = 0
  private readonly targetTime = new Map<number, number>()
  private warmHits = 0
  private coldStarts = 0
  private coldWaits = new Float64Array(1024)
  private nCold = 0
  moved = 0
  lost = 0
  private readonly creates = { ok: 0, failed: 0, recycled: 0, claimsFailed: 0 }
  private arrivalsInSample = 0
  private lastSampleT = 0
  private readonly series: SimResult['series'] = { tS: [], ready: [], starting: [], claimed: [], target: [], arrivalsPerS: [], hosts: [] }

  private readonly claimLog: ClaimLog | undefined

  constructor(private readonly sc: Scenario, logClaims = false) {
    this.warmup = sc.warmupS
    if (logClaims) this.claimLog = { tS: [], warm: [], waitS: [], failedAtS: [] }
  }

  private logClaim(t: number, warm: boolean, waitS: number): void {
    const log = this.claimLog
    if (!log) return
    log.tS.push(t)
    log.warm.push(warm)
    log.waitS.push(waitS)
  }

  advance(t: number, c: Counts): void {
    const from = this.last > this.warmup ? this.last : this.warmup
    if (t > from) {
      const dt = t - from
      this.readyArea += c.ready * dt
      this.claimedArea += c.claimed * dt
      this.aliveArea += (c.ready + c.warmStarting + c.coldStarting + c.claimed) * dt
      this.targetDt += dt
    }
    this.last = t
  }

  target(n: number): void {
    if (n === this.currentTarget) return
    this.flushTarget()
    this.currentTarget = n
  }

  /** Time at one target is summed per change, not per event (the hot path stays cheap). */
  private flushTarget(): void {
    if (this.targetDt === 0) return
    this.targetArea += this.currentTarget * this.targetDt
    this.targetTime.set(this.currentTarget, (this.targetTime.get(this.currentTarget) ?? 0) + this.targetDt)
    this.targetDt = 0
  }

  warmHit(t: number): void {
    this.arrivalsInSample++
    if (t >= this.warmup) {
      this.warmHits++
      this.logClaim(t, true, this.sc.sandbox.claimS)
    }
  }

  coldStart(t: number): void {
    this.arrivalsInSample++
    if (t >= this.warmup) this.coldStarts++
  }

  coldWait(claimAt: number, waitS: number): void {
    if (claimAt < this.warmup) return
    this.logClaim(claimAt, false, waitS)
    if (this.nCold === this.coldWaits.length) {
      const b = new Float64Array(this.nCold * 2)
      b.set(this.coldWaits)
      this.coldWaits = b
    }
    this.coldWaits[this.nCold++] = waitS
  }

  createDone(t: number, ok: boolean): void {
    if (t < this.warmup) return
    if (ok) this.creates.ok++
    else this.creates.failed++
  }

  recycled(t: number): void {
    if (t >= this.warmup) this.creates.recycled++
  }

  claimFailed(claimAt: number): void {
    if (claimAt < this.warmup) return
    this.creates.claimsFailed++
    this.claimLog?.failedAtS.push(claimAt)
  }

  sample(t: number, c: Counts, hosts: number): void {
    const s = this.series
    const dt = t - this.lastSampleT
    s.tS.push(t)
    s.ready.push(c.ready)
    s.starting.push(c.warmStarting + c.coldStarting)
    s.claimed.push(c.claimed)
    s.target.push(this.currentTarget)
    s.arrivalsPerS.push(dt > 0 ? this.arrivalsInSample / dt : 0)
    s.hosts.push(hosts)
    this.arrivalsInSample = 0
    this.lastSampleT = t
  }

  result(events: number, wallS: number, hosts: { costs: Record<string, number>; counters: HostCounters; hostSlotS: number } | undefined): SimResult {
    this.flushTarget()
    const sc = this.sc
    const sessions = this.warmHits + this.coldStarts
    // Cold waits still in progress at the end are not counted; every warm wait is claimS.
    const cold = this.coldWaits.slice(0, this.nCold).sort()
    const warmN = this.warmHits
    const n = warmN + cold.length
    const claimS = sc.sandbox.claimS
    const q = (p: number) => {
      if (n === 0) return 0
      const k = Math.max(0, Math.ceil(p * n) - 1)
      return k < warmN ? claimS : cold[k - warmN]!
    }
    let sum = warmN * claimS
    for (const w of cold) sum += w
    const statS = sc.durationS - this.warmup
    const breakdown = hosts ? hosts.costs : { sandboxes: (this.aliveArea / 3600) * sc.sandbox.usdPerHour }
    const total = Object.values(breakdown).reduce((a, b) => a + b, 0)
    let modeTarget = 0, modeTime = -1
    for (const [k, v] of this.targetTime) if (v > modeTime || (v === modeTime && k < modeTarget)) { modeTarget = k; modeTime = v }
    return {
      name: sc.name ?? null,
      sessions,
      warmHits: this.warmHits,
      coldStarts: this.coldStarts,
      warmHitRate: sessions === 0 ? 0 : this.warmHits / sessions,
      wait: { p50S: q(0.5), p95S: q(0.95), p99S: q(0.99), maxS: n === 0 ? 0 : cold.length ? cold[cold.length - 1]! : claimS, meanS: n === 0 ? 0 : sum / n, waitedShare: n === 0 ? 0 : countAbove(cold, claimS) / n },
      sandboxS: this.aliveArea,
      cost: { total, perHour: total / (sc.durationS / 3600), per1000Sessions: sessions === 0 ? 0 : (total / sessions) * 1000, breakdown },
      utilization: {
        sandbox: this.aliveArea === 0 ? 0 : this.claimedArea / this.aliveArea,
        host: hosts && hosts.hostSlotS > 0 ? Math.min(1, this.aliveArea / hosts.hostSlotS) : null,
      },
      interruptions: { hostInterruptions: hosts?.counters.interruptions ?? 0, azHostsLost: hosts?.counters.azLost ?? 0, sessionsMoved: this.moved, sessionsLost: this.lost },
      pool: { meanTarget: this.targetArea / statS, modeTarget, modeTargetShare: modeTime / statS, meanReady: this.readyArea / statS, hostLaunches: hosts?.counters.launches ?? null },
      creates: { ...this.creates },
      events,
      series: this.series,
      waitHistogram: histogram(cold),
      ...(this.claimLog ? { claims: this.claimLog } : {}),
      perf: { wallS, eventsPerS: wallS > 0 ? events / wallS : 0 },
    }
  }
}

function histogram(sorted: Float64Array, bins = 30): { edgesS: number[]; counts: number[] } {
  if (sorted.length === 0) return { edgesS: [], counts: [] }
  const lo = sorted[0]!, hi = sorted[sorted.length - 1]!
  const w = hi > lo ? (hi - lo) / bins : 1
  const counts = new Array<number>(bins).fill(0)
  for (const x of sorted) counts[Math.min(bins - 1, Math.floor((x - lo) / w))]!++
  return { edgesS: Array.from({ length: bins + 1 }, (_, i) => lo + i * w), counts }
}

function countAbove(sorted: Float64Array, x: number): number {
  let lo = 0, hi = sorted.length
  while (lo < hi) { const m = (lo + hi) >> 1; if (sorted[m]! <= x) lo = m + 1; else hi = m }
  return sorted.length - lo
}
