import { describe, expect, it } from 'vitest'
import { linearFit, percentile, summarize } from './stats.ts'

describe('percentile', () => {
  it('uses the nearest rank', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(s, 50)).toBe(50)
    expect(percentile(s, 99)).toBe(99)
    expect(percentile(s, 100)).toBe(100)
    expect(percentile([7], 99)).toBe(7)
  })
  it('summarizes unsorted samples', () => {
    const sum = summarize([5, 1, 3, 2, 4])
    expect(sum).toMatchObject({ n: 5, p50: 3, max: 5, min: 1, mean: 3 })
  })
})

describe('linearFit', () => {
  it('recovers slope and intercept of a line', () => {
    const f = linearFit([1, 2, 3, 4], [12, 14, 16, 18])
    expect(f.slope).toBeCloseTo(2, 10)
    expect(f.intercept).toBeCloseTo(10, 10)
    expect(f.r2).toBeCloseTo(1, 10)
  })
})
