import { describe, expect, it } from 'vitest'
import { durationSampler, stream } from './rng.ts'
import { parseScenario } from './scenario.ts'
import { nearestByCrossValidation } from './timed-starts.ts'

describe('timed create draws', () => {
  it('draws among the values measured nearest t, clamped at the ends; without t, among all', () => {
    // Ten values at t = 0..9, each equal to its time: a draw at t can only be a neighbour of t.
    const at = Array.from({ length: 10 }, (_, i) => i)
    const draw = durationSampler({ kind: 'timed', atS: [...at].reverse(), valuesS: [...at].reverse(), nearest: 3 }, stream(1, 3))
    const seen = (t: number | undefined) => new Set(Array.from({ length: 300 }, () => draw(t)))
    expect(seen(5)).toEqual(new Set([4, 5, 6]))
    expect(seen(5.5)).toEqual(new Set([5, 6, 7]))
    expect(seen(-100)).toEqual(new Set([0, 1, 2]))
    expect(seen(100)).toEqual(new Set([7, 8, 9]))
    expect(seen(undefined).size).toBe(10)
  })

  it('refuses times and values of different lengths, naming the field', () => {
    const r = parseScenario({ durationS: 10, arrivals: { kind: 'poisson', ratePerS: 1 }, sessionS: { kind: 'constant', valueS: 1 },
      sandbox: { startS: { kind: 'timed', atS: [0, 1], valuesS: [1] } }, policy: { kind: 'fixed', size: 1 } })
    expect(r.ok).toBe(false)
    expect(r.ok ? '' : r.errors.join('; ')).toMatch(/sandbox\.startS\.atS: atS and valuesS need one entry each per measurement/)
  })

  it('chooses a small window when the values shift over time, and the largest when they do not', () => {
    const n = 400
    const at = Array.from({ length: n }, (_, i) => i)
    const noise = stream(7, 1)
    // Slow minutes: 5x slower in every other block of 50.
    const shifting = at.map((i) => (Math.floor(i / 50) % 2 === 0 ? 0.2 : 1) * Math.exp(0.1 * (noise() - 0.5)))
    const flat = at.map(() => 0.2 * Math.exp(0.1 * (noise() - 0.5)))
    const s = nearestByCrossValidation(at, shifting)
    expect(s.nearest).toBeLessThanOrEqual(16)
    expect(s.errors[128]!).toBeGreaterThan(5 * s.errors[s.nearest]!)
    expect(nearestByCrossValidation(at, flat).nearest).toBe(128)
    expect(() => nearestByCrossValidation([0, 1], [1])).toThrow('each value needs its time')
  })
})
