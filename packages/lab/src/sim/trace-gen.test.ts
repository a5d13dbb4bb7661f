import { describe, expect, it } from 'vitest'
import { stream } from './rng.ts'
import { decorate, generateArrivals, parseSessionSpec, type TraceShape } from './trace-gen.ts'
import { arrivalProcess } from './workload.ts'

const count = (t: Float64Array, from: number, to: number) => t.filter((x) => x >= from && x < to).length
/** Within k standard deviations of a Poisson count's mean. */
const nearPoisson = (n: number, mean: number, k = 4) => expect(Math.abs(n - mean)).toBeLessThan(k * Math.sqrt(mean))

describe('trace generators', () => {
  it('poisson: the expected count, increasing times inside the duration, exponential gaps', () => {
    const t = generateArrivals({ kind: 'poisson', ratePerS: 2 }, 3600, 1)
    nearPoisson(t.length, 7200)
    expect(t.every((x, i) => x >= 0 && x < 3600 && (i === 0 || x >= t[i - 1]!))).toBe(true)
    // Exponential gaps: about e^-1 of them are longer than the mean gap.
    const gaps = Array.from(t.subarray(1), (x, i) => x - t[i]!)
    const long = gaps.filter((g) => g > 0.5).length / gaps.length
    expect(long).toBeGreaterThan(0.35)
    expect(long).toBeLessThan(0.39)
  })

  it('stop at a limit on the arrivals', () => {
    expect(generateArrivals({ kind: 'poisson', ratePerS: 10 }, 100, 1, 2000).length).toBeGreaterThan(900)
    expect(() => generateArrivals({ kind: 'poisson', ratePerS: 10 }, 100, 1, 50)).toThrow('more than 50 arrivals: lower the rate or the duration')
  })

  it('are deterministic by seed, and the seed matters', () => {
    const shapes: TraceShape[] = [
      { kind: 'poisson', ratePerS: 1 },
      { kind: 'diurnal', peakRatePerS: 3, troughRatePerS: 0.2, peakHour: 14, periodS: 3600 },
      { kind: 'bursty', ratePerS: 0.5, burstRatePerS: 10, burstEveryS: 300, burstS: 20, burstOffsetS: 0 },
    ]
    for (const s of shapes) {
      expect(generateArrivals(s, 1800, 7)).toEqual(generateArrivals(s, 1800, 7))
      expect(generateArrivals(s, 1800, 7)).not.toEqual(generateArrivals(s, 1800, 8))
    }
  })

  it('poisson draws the arrivals the simulator draws for the same rate and seed', () => {
    const p = arrivalProcess({ kind: 'poisson', ratePerS: 2 }, 0, stream(5, 1))
    const sim: number[] = []
    for (let x = p.next(0); x < 100; x = p.next(x)) sim.push(x)
    expect([...generateArrivals({ kind: 'poisson', ratePerS: 2 }, 100, 5)]).toEqual(sim)
  })

  it('diurnal: a compressed day peaks at the peak hour, about peak/trough times the trough hour', () => {
    // A day of 2400 s: an hour lasts 100 s. Four days, so each hour's count is about 4 x 100 x rate.
    const t = generateArrivals({ kind: 'diurnal', peakRatePerS: 10, troughRatePerS: 1, peakHour: 14, periodS: 2400 }, 4 * 2400, 3)
    const hour = (h: number) => [0, 1, 2, 3].reduce((n, d) => n + count(t, d * 2400 + h * 100, d * 2400 + (h + 1) * 100), 0)
    const byHour = Array.from({ length: 24 }, (_, h) => hour(h))
    expect(byHour.indexOf(Math.max(...byHour))).toBeGreaterThanOrEqual(13)
    expect(byHour.indexOf(Math.max(...byHour))).toBeLessThanOrEqual(14)
    // Hours 14 and 2 sit half an hour off the cosine's peak and trough: rates 9.96 and 1.04.
    nearPoisson(hour(14), 400 * 9.96)
    nearPoisson(hour(2), 400 * 1.04)
    const ratio = hour(14) / hour(2)
    expect(ratio).toBeGreaterThan(8)
    expect(ratio).toBeLessThan(11.5)
    // The mean of a cosine day is halfway between trough and peak.
    nearPoisson(t.length, 4 * 2400 * 5.5)
  })

  it('diurnal: 24 hourly rates give each hour its own rate', () => {
    const hourly = Array.from({ length: 24 }, (_, h) => (h === 9 ? 20 : 0))
    const t = generateArrivals({ kind: 'diurnal', peakRatePerS: 0, troughRatePerS: 0, hourlyRatesPerS: hourly, peakHour: 14, periodS: 240 }, 240, 1)
    // Hour 9 of a 240 s day is [90, 100): 10 s at 20/s.
    expect(count(t, 90, 100)).toBe(t.length)
    nearPoisson(t.length, 200)
  })

  it('bursty: the base rate between bursts and base + burst rate inside them', () => {
    const t = generateArrivals({ kind: 'bursty', ratePerS: 1, burstRatePerS: 20, burstEveryS: 100, burstS: 10, burstOffsetS: 5 }, 1000, 2)
    let inside = 0
    for (let b = 5; b < 1000; b += 100) inside += count(t, b, b + 10)
    nearPoisson(inside, 10 * 10 * 21)
    nearPoisson(t.length - inside, 900)
  })
})

describe('trace columns', () => {
  it('add seeded session lengths and users', () => {
    const t = Float64Array.from({ length: 2000 }, (_, i) => i)
    const a = decorate(t, { seed: 1, session: { kind: 'exponential', meanS: 600 }, users: 3 })
    expect(a).toEqual(decorate(t, { seed: 1, session: { kind: 'exponential', meanS: 600 }, users: 3 }))
    const mean = a.durationS!.reduce((s, x) => s + x, 0) / 2000
    expect(mean).toBeGreaterThan(600 * (1 - 4 / Math.sqrt(2000)))
    expect(mean).toBeLessThan(600 * (1 + 4 / Math.sqrt(2000)))
    expect(new Set(a.user)).toEqual(new Set(['user-1', 'user-2', 'user-3']))
    expect(decorate(t, { seed: 1 })).toEqual({ t, durationS: undefined, user: undefined })
  })

  it('read session lengths from a flag', () => {
    expect(parseSessionSpec('constant:30')).toEqual({ kind: 'constant', valueS: 30 })
    expect(parseSessionSpec('exponential:600')).toEqual({ kind: 'exponential', meanS: 600 })
    expect(parseSessionSpec('lognormal:600:1.2')).toEqual({ kind: 'lognormal', meanS: 600, sigma: 1.2 })
    expect(parseSessionSpec('uniform:10:60')).toEqual({ kind: 'uniform', minS: 10, maxS: 60 })
    expect(parseSessionSpec('none')).toBeUndefined()
    for (const bad of ['exponential', 'exponential:0', 'uniform:60:10', 'lognormal:600', 'gamma:3', 'constant:-1']) {
      expect(() => parseSessionSpec(bad)).toThrow(`session "${bad}": give constant:S`)
    }
  })
})
