import { durationSampler, stream, type DurationSpec } from './rng.ts'
import type { Scenario } from './scenario.ts'
import type { Trace } from './trace.ts'
import { arrivalProcess } from './workload.ts'

const DAY_S = 86_400
/** A Monday at midnight UTC: a generated diurnal trace starts at hour 0 of its compressed day. */
const MONDAY_MS = Date.parse('2026-01-05T00:00:00Z')

export type TraceShape =
  | { readonly kind: 'poisson'; readonly ratePerS: number }
  | {
    readonly kind: 'diurnal'
    /** Rates in the trace's own time, at the peak and trough of the (cosine) day. */
    readonly peakRatePerS: number
    readonly troughRatePerS: number
    /** Or 24 hourly rates instead of the cosine day. */
    readonly hourlyRatesPerS?: readonly number[]
    readonly peakHour: number
    /** Length of one compressed day: 86400 / the compression factor. */
    readonly periodS: number
  }
  | {
    readonly kind: 'bursty'
    readonly ratePerS: number
    /** Added to the base rate during a burst. */
    readonly burstRatePerS: number
    readonly burstEveryS: number
    readonly burstS: number
    readonly burstOffsetS: number
  }

export interface Decoration {
  readonly seed: number
  /** Session lengths for a `durationS` column; none: no column. */
  readonly session?: DurationSpec
  /** Users `user-1` ... `user-N` drawn at random for a `user` column; none: no column. */
  readonly users?: number
}

type Arrivals = Scenario['arrivals']

/**
 * A shape as the simulator's own arrival process, with a time scale: a diurnal day of periodS
 * seconds is the simulator's 24 h day with every rate divided by the compression c, run c times
 * as long, its times then divided by c (a Poisson process's rate scales with the time).
 */
function asArrivals(shape: TraceShape): { arrivals: Arrivals; scale: number } {
  switch (shape.kind) {
    case 'poisson': return { arrivals: { kind: 'poisson', ratePerS: shape.ratePerS }, scale: 1 }
    case 'diurnal': {
      const c = DAY_S / shape.periodS
      const arrivals: Arrivals = {
        kind: 'diurnal', peakHour: shape.peakHour, weekendFactor: 1,
        ...(shape.hourlyRatesPerS
          ? { hourlyRatesPerS: shape.hourlyRatesPerS.map((r) => r / c) }
          : { peakRatePerS: shape.peakRatePerS / c, troughRatePerS: shape.troughRatePerS / c }),
      }
      return { arrivals, scale: c }
    }
    case 'bursty': return {
      arrivals: {
        kind: 'bursts', base: { kind: 'poisson', ratePerS: shape.ratePerS }, bursts: [],
        every: { periodS: shape.burstEveryS, offsetS: shape.burstOffsetS, durationS: shape.burstS, ratePerS: shape.burstRatePerS },
      },
      scale: 1,
    }
  }
}

/**
 * Arrival times in [0, durationS) of a shape, by the simulator's own arrival process and its
 * arrivals stream (purpose 1): a Poisson or bursty trace of seed s has the arrivals `infra-lab
 * sim` draws for the same workload and seed.
 */
export function generateArrivals(shape: TraceShape, durationS: number, seed: number, maxArrivals = Infinity): Float64Array {
  const { arrivals, scale } = asArrivals(shape)
  const p = arrivalProcess(arrivals, MONDAY_MS, stream(seed, 1))
  const end = durationS * scale
  const out: number[] = []
  for (let t = p.next(0); t < end; t = p.next(t)) {
    if (out.length === maxArrivals) throw new Error(`more than ${maxArrivals} arrivals: lower the rate or the duration`)
    out.push(t / scale)
  }
  return Float64Array.from(out)
}

/** Adds the session-length and user columns (their own seeded streams, as in the simulator). */
export function decorate(t: Float64Array, d: Decoration): Omit<Trace, 'users'> {
  let durationS: Float64Array | undefined
  if (d.session) {
    const next = durationSampler(d.session, stream(d.seed, 2))
    durationS = Float64Array.from(t, () => next())
  }
  let user: string[] | undefined
  if (d.users !== undefined) {
    const rng = stream(d.seed, 6)
    const n = d.users
    user = Array.from(t, () => `user-${1 + Math.floor(rng() * n)}`)
  }
  return { t, durationS, user }
}

/**
 * Session lengths as a flag: `constant:S`, `exponential:MEAN`, `lognormal:MEAN:SIGMA`,
 * `uniform:MIN:MAX` (seconds), or `none` (no durationS column).
 */
export function parseSessionSpec(text: string): DurationSpec | undefined {
  if (text === 'none') return undefined
  const [kind, ...rest] = text.split(':')
  const v = rest.map(Number)
  const ok = (n: number) => v.length === n && v.every((x) => Number.isFinite(x) && x >= 0)
  if (kind === 'constant' && ok(1)) return { kind, valueS: v[0]! }
  if (kind === 'exponential' && ok(1) && v[0]! > 0) return { kind, meanS: v[0]! }
  if (kind === 'lognormal' && ok(2) && v[0]! > 0 && v[1]! > 0 && v[1]! <= 5) return { kind, meanS: v[0]!, sigma: v[1]! }
  if (kind === 'uniform' && ok(2) && v[0]! <= v[1]!) return { kind, minS: v[0]!, maxS: v[1]! }
  throw new Error(`session "${text}": give constant:S, exponential:MEAN, lognormal:MEAN:SIGMA (0 < SIGMA <= 5), uniform:MIN:MAX (seconds) or none`)
}
