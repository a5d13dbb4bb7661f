import { randomExponential, randomLcg, randomLogNormal } from 'd3-random'

/** A uniform [0, 1) source. */
export type Rng = () => number

/**
 * Independent seeded streams (arrivals, durations, starts, interruptions), so that changing
 * one part of a scenario does not reshuffle the others (common random numbers in sweeps).
 */
export function stream(seed: number, purpose: number): Rng {
  // Mix seed and purpose into a 32-bit integer (splitmix-style), then d3's LCG.
  let x = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(purpose + 1, 0x85ebca6b)) >>> 0
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0
  return randomLcg(((x ^ (x >>> 16)) >>> 0) / 0x1_0000_0000)
}

export type DurationSpec =
  | { readonly kind: 'constant'; readonly valueS: number }
  | { readonly kind: 'exponential'; readonly meanS: number }
  | { readonly kind: 'lognormal'; readonly meanS: number; readonly sigma: number }
  | { readonly kind: 'uniform'; readonly minS: number; readonly maxS: number }
  /** Measured values, drawn uniformly with replacement (e.g. the create times a replay measured). */
  | { readonly kind: 'empirical'; readonly valuesS: readonly number[] }
  /**
   * Measured values with the times they were measured at (seconds on the scenario's clock): a
   * draw at time t is uniform over the `nearest` values measured closest to t. What a replay's
   * creates took when the machine was slow is drawn when the simulation is at that moment too.
   */
  | { readonly kind: 'timed'; readonly atS: readonly number[]; readonly valuesS: readonly number[]; readonly nearest: number }

/** A draw of a duration; `t` (the simulation's time) matters only to `timed`. */
export type DurationSampler = (t?: number) => number

/** A sampler of durations in seconds. */
export function durationSampler(spec: DurationSpec, rng: Rng): DurationSampler {
  switch (spec.kind) {
    case 'constant': { const v = spec.valueS; return () => v }
    case 'exponential': return randomExponential.source(rng)(1 / spec.meanS)
    case 'lognormal': return randomLogNormal.source(rng)(Math.log(spec.meanS) - (spec.sigma * spec.sigma) / 2, spec.sigma)
    case 'uniform': { const a = spec.minS; const w = spec.maxS - spec.minS; return () => a + w * rng() }
    case 'empirical': { const v = spec.valuesS; const n = v.length; return () => v[Math.floor(rng() * n)]! }
    case 'timed': return timedSampler(spec, rng)
  }
}

/** `timed`: the values sorted by time, and a draw from the window of `nearest` around t (clamped at the ends). */
function timedSampler(spec: Extract<DurationSpec, { kind: 'timed' }>, rng: Rng): DurationSampler {
  const order = spec.atS.map((_, i) => i).sort((a, b) => spec.atS[a]! - spec.atS[b]!)
  const at = order.map((i) => spec.atS[i]!)
  const v = order.map((i) => spec.valuesS[i]!)
  const n = v.length
  const k = Math.min(n, Math.max(1, Math.floor(spec.nearest)))
  return (t) => {
    if (t === undefined) return v[Math.floor(rng() * n)]!
    // The first value measured at or after t; the window is centred on it.
    let lo = 0, hi = n
    while (lo < hi) { const m = (lo + hi) >> 1; if (at[m]! < t) lo = m + 1; else hi = m }
    const first = Math.min(n - k, Math.max(0, lo - (k >> 1)))
    return v[first + Math.floor(rng() * k)]!
  }
}

export function meanOf(spec: DurationSpec): number {
  switch (spec.kind) {
    case 'constant': return spec.valueS
    case 'exponential': case 'lognormal': return spec.meanS
    case 'uniform': return (spec.minS + spec.maxS) / 2
    case 'empirical': case 'timed': return spec.valuesS.reduce((a, b) => a + b, 0) / spec.valuesS.length
  }
}
