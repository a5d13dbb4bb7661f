import { describe, expect, it } from 'vitest'
import { durationSampler, stream } from './rng.ts'

describe('stream', () => {
  it('gives every (seed, purpose) its own sequence (regression: negative mixes all became state 0)', () => {
    const firsts = new Set<number>()
    for (let seed = -20; seed < 200; seed++) for (let purpose = 0; purpose < 6; purpose++) firsts.add(stream(seed, purpose)())
    expect(firsts.size).toBe(220 * 6)
  })

  it('repeats itself for the same seed', () => {
    const a = stream(7, 1), b = stream(7, 1)
    expect([a(), a(), a()]).toEqual([b(), b(), b()])
  })
})

describe('durationSampler', () => {
  it('has the stated mean (lognormal by mean and sigma, exponential, uniform) within 3 standard errors', () => {
    const n = 200_000
    for (const [spec, mean, sd] of [
      [{ kind: 'lognormal', meanS: 10, sigma: 0.5 }, 10, 10 * Math.sqrt(Math.exp(0.25) - 1)],
      [{ kind: 'exponential', meanS: 4 }, 4, 4],
      [{ kind: 'uniform', minS: 2, maxS: 6 }, 4, 4 / Math.sqrt(12)],
    ] as const) {
      const f = durationSampler(spec, stream(1, 9))
      let s = 0
      for (let i = 0; i < n; i++) s += f()
      expect(Math.abs(s / n - mean)).toBeLessThan((3 * sd) / Math.sqrt(n))
    }
  })
})
