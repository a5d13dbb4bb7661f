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

/** A sampler of durations in seconds; `mean` is the distribution's exact mean. */
export function durationSampler(spec: DurationSpec, rng: Rng): () => number {
  switch (spec.kind) {
    case 'constant': { const v = spec.valueS; return () => v }
    case 'exponential': return randomExponential.source(rng)(1 / spec.meanS)
    case 'lognormal': return randomLogNormal.source(rng)(Math.log(spec.meanS) - (spec.sigma * spec.sigma) / 2, spec.sigma)
    case 'uniform': { const a = spec.minS; const w = spec.maxS - spec.minS; return () => a + w * rng() }
    case 'empirical': { const v = spec.valuesS; const n = v.length; return () => v[Math.floor(rng() * n)]! }
  }
}

export function meanOf(spec: DurationSpec): number {
  switch (spec.kind) {
    case 'constant': return spec.valueS
    case 'exponential': case 'lognormal': return spec.meanS
    case 'uniform': return (spec.minS + spec.maxS) / 2
    case 'empirical': return spec.valuesS.reduce((a, b) => a + b, 0) / spec.valuesS.length
  }
}
