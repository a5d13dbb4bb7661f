import type { SimResult } from '../sim/stats.ts'
import type { PoolSample, ReplayArrival, ReplayRun } from './replay.ts'

/**
 * A replay's JSON: the figures of `infra-lab sim --json` (same fields, measured instead of
 * simulated, plus the pool series) and under `replay` what was measured to get them, including
 * each sandbox create's duration and each cold claim's own time (what `sim --starts-from`
 * draws from).
 */
export type ReplayResult = Omit<SimResult, 'waitHistogram' | 'claims'> & {
  readonly replay: Omit<ReplayRun, 'wallS'> & {
    readonly trace: string
    /** The median warm claim (s). */
    readonly claimS: number
    /** Each cold claim's own time once its sandbox was handed to it (s): `claimMs - coldStartMs` (agent connect, workspace bind, claim sent). */
    readonly coldClaimsS: readonly number[]
  }
}

/** A cold claim's time after the pool handed it a sandbox (the gateway's connect, bind and send laps). */
export function coldClaimS(a: ReplayArrival): number | undefined {
  return a.path === 'cold' && a.claimMs !== undefined && a.coldStartMs !== undefined ? Math.max(0, a.claimMs - a.coldStartMs) / 1000 : undefined
}

/** Time integral of `f(sample)` over [0, endS], each sample's value held until the next. */
export function integrate(samples: readonly PoolSample[], endS: number, f: (s: PoolSample) => number): number {
  let area = 0
  for (let k = 0; k < samples.length; k++) {
    const from = Math.max(0, samples[k]!.tS)
    const to = Math.min(endS, samples[k + 1]?.tS ?? endS)
    if (to > from) area += f(samples[k]!) * (to - from)
  }
  return area
}

/** The sandboxes a pool owns and are not being destroyed: what the simulator counts as alive. */
export const alive = (s: PoolSample) => s.total - s.destroying

/** The p-quantile of sorted values as the simulator takes it (the ceil(p*n)-th value). */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!
}

export const claimed = (a: readonly ReplayArrival[]) => a.filter((x) => x.path !== 'failed' && x.claimMs !== undefined)

export function replayResult(run: ReplayRun, trace: string): ReplayResult {
  const ok = claimed(run.arrivals)
  const warm = ok.filter((a) => a.path === 'warm')
  const waits = ok.map((a) => a.claimMs! / 1000).sort((a, b) => a - b)
  const coldWaits = ok.filter((a) => a.path === 'cold').map((a) => a.claimMs! / 1000)
  const warmClaims = warm.map((a) => a.claimMs! / 1000).sort((a, b) => a - b)
  const claimS = quantile(warmClaims, 0.5)
  const end = run.endS
  const sandboxS = integrate(run.samples, end, alive)
  const targetTime = new Map<number, number>()
  run.samples.forEach((s, k) => {
    const span = Math.min(end, run.samples[k + 1]?.tS ?? end) - Math.max(0, s.tS)
    if (span > 0) targetTime.set(s.target, (targetTime.get(s.target) ?? 0) + span)
  })
  let modeTarget = 0, modeTime = -1
  for (const [k, v] of targetTime) if (v > modeTime || (v === modeTime && k < modeTarget)) { modeTarget = k; modeTime = v }
  const series = seriesOf(run)
  const sessions = ok.length
  return {
    name: `replay of ${trace}`,
    sessions,
    warmHits: warm.length,
    coldStarts: sessions - warm.length,
    warmHitRate: sessions === 0 ? 0 : warm.length / sessions,
    wait: {
      p50S: quantile(waits, 0.5), p95S: quantile(waits, 0.95), p99S: quantile(waits, 0.99), maxS: waits.at(-1) ?? 0,
      meanS: waits.length === 0 ? 0 : waits.reduce((a, b) => a + b, 0) / waits.length,
      waitedShare: waits.length === 0 ? 0 : coldWaits.filter((w) => w > claimS).length / waits.length,
    },
    sandboxS,
    // A replay knows no prices: its cost is sandboxS.
    cost: { total: 0, perHour: 0, per1000Sessions: 0, breakdown: {} },
    utilization: { sandbox: sandboxS === 0 ? 0 : integrate(run.samples, end, (s) => s.claimed) / sandboxS, host: null },
    interruptions: { hostInterruptions: 0, azHostsLost: 0, sessionsMoved: 0, sessionsLost: 0 },
    pool: {
      meanTarget: end > 0 ? integrate(run.samples, end, (s) => s.target) / end : 0, modeTarget, modeTargetShare: end > 0 ? modeTime / end : 0,
      meanReady: end > 0 ? integrate(run.samples, end, (s) => s.ready) / end : 0, hostLaunches: null,
    },
    // Recycled warm sandboxes are not visible from outside the gateway.
    creates: { ok: run.createsS.length, failed: run.createFailures, recycled: 0, claimsFailed: run.arrivals.length - sessions },
    events: 0,
    series,
    perf: { wallS: run.wallS, eventsPerS: 0 },
    replay: {
      trace, claimS, coldClaimsS: run.arrivals.map(coldClaimS).filter((x): x is number => x !== undefined),
      pool: run.pool, speed: run.speed, startedAt: run.startedAt, endS: run.endS, arrivals: run.arrivals, samples: run.samples,
      createsS: run.createsS, createsAtS: run.createsAtS, createsMissed: run.createsMissed, createFailures: run.createFailures, partial: run.partial,
    },
  }
}

function seriesOf(run: ReplayRun): SimResult['series'] {
  const s = run.samples
  const arrivalsPerS = s.map((x, k) => {
    const from = k === 0 ? 0 : s[k - 1]!.tS
    const n = run.arrivals.filter((a) => a.sentS > from && a.sentS <= x.tS).length
    return x.tS > from ? n / (x.tS - from) : 0
  })
  return {
    tS: s.map((x) => x.tS), ready: s.map((x) => x.ready), starting: s.map((x) => x.starting + x.coldStarting), claimed: s.map((x) => x.claimed),
    target: s.map((x) => x.target), arrivalsPerS, hosts: s.map(() => 0),
  }
}
