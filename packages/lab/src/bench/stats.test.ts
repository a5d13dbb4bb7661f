import { describe, expect, it } from 'vitest'
import { linearFit } from './stats.ts'

describe('linearFit', () => {
  it('recovers slope and intercept of a line', () => {
    const f = linearFit([1, 2, 3, 4], [12, 14, 16, 18])
    expect(f.slope).toBeCloseTo(2, 10)
    expect(f.intercept).toBeCloseTo(10, 10)
    expect(f.r2).toBeCloseTo(1, 10)
  })
})
