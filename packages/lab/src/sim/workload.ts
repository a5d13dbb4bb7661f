import type { Rng } from './rng.ts'
import type { Scenario } from './scenario.ts'
import type { Trace } from './trace.ts'

type Arrivals = Scenario['arrivals']
type Diurnal = Extract<Arrivals, { kind: 'diurnal' }>

/** Arrival times of claims, one after another; Infinity when there are no more. */
export interface ArrivalProcess {
  next(t: number): number
  /** Session length of the arrival just returned, when the workload carries one (trace). */
  readonly durationS: number | undefined
}

export type { Trace }

/** A rate function (claims/s at simulated second t) and its maximum. */
interface RateFn { rate(t: number): number; max: number }

const DAY_S = 86_400

function diurnalRate(d: Diurnal, startMs: number): RateFn {
  const hourly = d.hourlyRatesPerS ?? Array.from({ length: 24 }, (_, h) => {
    const peak = d.peakRatePerS!, trough = d.troughRatePerS!
    return trough + (peak - trough) * (1 + Math.cos((2 * Math.PI * (h + 0.5 - d.peakHour)) / 24)) / 2
  })
  const start = startMs / 1000
  const rate = (t: number) => {
    const abs = start + t
    const day = Math.floor(abs / DAY_S)
    const hour = Math.floor((abs - day * DAY_S) / 3600)
    const weekday = (((day + 4) % 7) + 7) % 7 // 0 = Sunday
    const r = hourly[hour]!
    return weekday === 0 || weekday === 6 ? r * d.weekendFactor : r
  }
  return { rate, max: Math.max(...hourly) * Math.max(1, d.weekendFactor) }
}

function rateFn(a: Exclude<Arrivals, { kind: 'trace' }>, startMs: number): RateFn {
  switch (a.kind) {
    case 'poisson': return { rate: () => a.ratePerS, max: a.ratePerS }
    case 'diurnal': return diurnalRate(a, startMs)
    case 'bursts': {
      const base = rateFn(a.base, startMs)
      const every = a.every
      const listed = a.bursts
      const burstMax = Math.max(0, ...listed.map((b) => b.ratePerS)) + (every?.ratePerS ?? 0)
      const rate = (t: number) => {
        let r = base.rate(t)
        for (const b of listed) if (t >= b.atS && t < b.atS + b.durationS) r += b.ratePerS
        if (every && t >= every.offsetS && (t - every.offsetS) % every.periodS < every.durationS) r += every.ratePerS
        return r
      }
      return { rate, max: base.max + burstMax }
    }
  }
}

/**
 * Poisson arrivals with a constant rate, or a time-varying one by thinning (Lewis-Shedler):
 * candidates at the maximum rate, each kept with probability rate(t)/max.
 */
export function arrivalProcess(a: Arrivals, startMs: number, rng: Rng, trace?: Trace): ArrivalProcess {
  if (a.kind === 'trace') {
    if (!trace) throw new Error('arrivals.kind "trace" needs the trace loaded (loadTraceFor)')
    let i = 0
    const p = {
      durationS: undefined as number | undefined,
      next(): number {
        if (i >= trace.t.length) return Infinity
        p.durationS = trace.durationS?.[i]
        return trace.t[i++]!
      },
    }
    return p
  }
  const f = rateFn(a, startMs)
  if (f.max <= 0) return { durationS: undefined, next: () => Infinity }
  const max = f.max
  if (a.kind === 'poisson') return { durationS: undefined, next: (t) => t - Math.log(1 - rng()) / max }
  return {
    durationS: undefined,
    next(t: number): number {
      for (;;) {
        t -= Math.log(1 - rng()) / max
        if (rng() * max < f.rate(t)) return t
      }
    },
  }
}

/** Mean arrival rate over [0, durationS] (for reports and tests), by the rate function. */
export function meanRatePerS(a: Arrivals, startMs: number, durationS: number, trace?: Trace): number {
  if (a.kind === 'trace') return trace ? trace.t.length / durationS : 0
  const f = rateFn(a, startMs)
  const steps = 2000
  let sum = 0
  for (let i = 0; i < steps; i++) sum += f.rate(((i + 0.5) / steps) * durationS)
  return sum / steps
}
