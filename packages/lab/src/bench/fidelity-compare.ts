import type { SimResult } from '../sim/stats.ts'
import { quantile } from './replay-result.ts'

/** One run's claims and pool, on the replay's compressed timeline (seconds from its start). */
export interface Side {
  /** Claims that got a session. */
  readonly claims: readonly { readonly tS: number; readonly warm: boolean; readonly waitS: number }[]
  /** When each claim the gateway refused or failed arrived (no session: a miss the user sees). */
  readonly failedAtS: readonly number[]
  /** Sandboxes alive (ready, starting, claimed), each value held until the next sample. */
  readonly tS: readonly number[]
  readonly alive: readonly number[]
}

/** The figures the fidelity report compares, over one window of time. */
export interface Figures {
  /** Claims with a session. */
  readonly claims: number
  /** Claims refused or failed (absent in files written before they were counted). */
  readonly refused?: number
  /** Warm claims over every claim, the refused ones included, as the gateway's lab_claims_total counts them. */
  readonly warmHitRate: number
  readonly coldN: number
  readonly coldP50S: number
  readonly coldP95S: number
  readonly sandboxS: number
}

/** A simulation of `startsFromScenario` (run with logClaims), shifted back by its warm-up. */
export function predictedSide(r: SimResult, warmupS: number): Side {
  const log = r.claims
  if (!log) throw new Error('the prediction was run without logClaims')
  const s = r.series
  return {
    claims: log.tS.map((t, k) => ({ tS: t - warmupS, warm: log.warm[k]!, waitS: log.waitS[k]! })),
    failedAtS: log.failedAtS.map((t) => t - warmupS),
    tS: s.tS.map((t) => t - warmupS),
    alive: s.tS.map((_, k) => s.ready[k]! + s.starting[k]! + s.claimed[k]!),
  }
}

/** Figures of the claims that arrived in [fromS, toS) and of the sandboxes alive over that span. */
export function figures(side: Side, fromS: number, toS: number): Figures {
  const c = side.claims.filter((x) => x.tS >= fromS && x.tS < toS)
  const refused = side.failedAtS.filter((t) => t >= fromS && t < toS).length
  const cold = c.filter((x) => !x.warm).map((x) => x.waitS).sort((a, b) => a - b)
  let area = 0
  for (let k = 0; k < side.tS.length; k++) {
    const a = Math.max(fromS, side.tS[k]!)
    const b = Math.min(toS, side.tS[k + 1] ?? toS)
    if (b > a) area += side.alive[k]! * (b - a)
  }
  return {
    claims: c.length, refused, warmHitRate: c.length + refused === 0 ? 0 : (c.length - cold.length) / (c.length + refused),
    coldN: cold.length, coldP50S: quantile(cold, 0.5), coldP95S: quantile(cold, 0.95), sandboxS: area,
  }
}

/** The mean of several runs' figures (the simulator's seeds). */
export function meanFigures(xs: readonly Figures[]): Figures {
  const m = (f: (x: Figures) => number) => xs.reduce((a, x) => a + f(x), 0) / xs.length
  return { claims: m((x) => x.claims), refused: m((x) => x.refused ?? 0), warmHitRate: m((x) => x.warmHitRate), coldN: m((x) => x.coldN), coldP50S: m((x) => x.coldP50S), coldP95S: m((x) => x.coldP95S), sandboxS: m((x) => x.sandboxS) }
}

/** Two-sided 95 % Student t quantiles by degrees of freedom (1..30; beyond: the normal's). */
const T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042]

/** Half-width of a 95 % interval for the mean of xs; undefined below two values. */
export function halfWidth95(xs: readonly number[]): number | undefined {
  const n = xs.length
  if (n < 2) return undefined
  const mean = xs.reduce((a, b) => a + b, 0) / n
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1))
  return (T95[n - 2] ?? 1.96) * sd / Math.sqrt(n)
}

/** A difference, predicted against measured, with its interval (paired batch means). */
export interface Difference {
  readonly value: number
  readonly halfWidth: number | undefined
}

export interface Comparison {
  readonly measured: Figures
  readonly predicted: Figures
  /** Percentage points, predicted - measured. */
  readonly warmHitPp: Difference
  /** Percent, predicted / measured - 1 (undefined without cold claims on a side). */
  readonly coldP50Pct: Difference | undefined
  readonly coldP95Pct: Difference | undefined
  readonly sandboxSPct: Difference
  readonly blocks: number
}

const pct = (p: number, m: number) => (m > 0 ? (p / m - 1) * 100 : undefined)

/**
 * Compares a replay with the predictions of it over `window` (seconds of the replay), and in `blocks`
 * consecutive spans of equally many arrivals (paired batch means): each block's difference is
 * one observation, and the interval is Student's t over them. A ratio needs cold claims on both
 * sides of a block; blocks without them are left out of its interval.
 */
export function compare(measured: Side, predicted: readonly Side[], window: { fromS: number; toS: number }, blocks: number): Comparison {
  const { fromS } = window
  const endS = window.toS
  const times = measured.claims.map((c) => c.tS).filter((t) => t >= fromS).sort((a, b) => a - b)
  const edges = [fromS]
  for (let b = 1; b < blocks; b++) edges.push(times[Math.floor((b * times.length) / blocks)] ?? endS)
  edges.push(endS + 1e-9)
  const m = figures(measured, fromS, endS + 1e-9)
  const p = meanFigures(predicted.map((s) => figures(s, fromS, endS + 1e-9)))
  const per = edges.slice(0, -1).map((from, b) => ({ m: figures(measured, from, edges[b + 1]!), p: meanFigures(predicted.map((s) => figures(s, from, edges[b + 1]!))) }))
  const ratio = (f: (x: Figures) => number): Difference | undefined => {
    const value = pct(f(p), f(m))
    if (value === undefined || p.coldN === 0) return undefined
    const xs = per.filter((x) => x.m.coldN > 0 && x.p.coldN > 0).map((x) => pct(f(x.p), f(x.m))).filter((x): x is number => x !== undefined)
    return { value, halfWidth: halfWidth95(xs) }
  }
  return {
    measured: m, predicted: p, blocks,
    warmHitPp: { value: (p.warmHitRate - m.warmHitRate) * 100, halfWidth: halfWidth95(per.map((x) => (x.p.warmHitRate - x.m.warmHitRate) * 100)) },
    coldP50Pct: ratio((x) => x.coldP50S),
    coldP95Pct: ratio((x) => x.coldP95S),
    sandboxSPct: { value: pct(p.sandboxS, m.sandboxS) ?? 0, halfWidth: halfWidth95(per.map((x) => pct(x.p.sandboxS, x.m.sandboxS) ?? 0)) },
  }
}

/**
 * The comparison when only the measured figures over the window are known (a fidelity.json
 * written before each arrival was kept): the same differences, without intervals.
 */
export function compareWithFigures(measured: Figures, predicted: readonly Side[], window: { fromS: number; toS: number }, blocks: number): Comparison {
  const p = meanFigures(predicted.map((s) => figures(s, window.fromS, window.toS + 1e-9)))
  const m = measured
  const ratio = (f: (x: Figures) => number): Difference | undefined => {
    const value = pct(f(p), f(m))
    return value === undefined || p.coldN === 0 ? undefined : { value, halfWidth: undefined }
  }
  return {
    measured: m, predicted: p, blocks,
    warmHitPp: { value: (p.warmHitRate - m.warmHitRate) * 100, halfWidth: undefined },
    coldP50Pct: ratio((x) => x.coldP50S),
    coldP95Pct: ratio((x) => x.coldP95S),
    sandboxSPct: { value: pct(p.sandboxS, m.sandboxS) ?? 0, halfWidth: undefined },
  }
}

/** The goal: warm-hit rate within +-2 points, cold-wait p95 within 20 %. */
export const GOAL = { warmHitPp: 2, coldP95Pct: 20 } as const

export function meetsGoal(c: Comparison): { warm: boolean; coldP95: boolean | undefined } {
  return {
    warm: Math.abs(c.warmHitPp.value) <= GOAL.warmHitPp,
    // No cold claim on either side: nothing to be wrong about.
    coldP95: c.coldP95Pct === undefined ? (c.measured.coldN === 0 && c.predicted.coldN === 0 ? undefined : false) : Math.abs(c.coldP95Pct.value) <= GOAL.coldP95Pct,
  }
}
