import { describe, expect, it } from 'vitest'
import { erlangB, erlangServers } from './erlang.ts'

describe('erlangB', () => {
  it('matches the closed forms for small N', () => {
    expect(erlangB(0, 1)).toBe(1)
    expect(erlangB(1, 1)).toBe(0.5)
    expect(erlangB(2, 1)).toBeCloseTo(0.2, 15)
    expect(erlangB(3, 1)).toBeCloseTo(1 / 16, 15)
    expect(erlangB(4, 1)).toBeCloseTo(1 / 65, 15)
    expect(erlangB(2, 2)).toBeCloseTo(0.4, 15)
  })

  it('matches published Erlang B table values', () => {
    expect(erlangB(18, 10)).toBeCloseTo(0.007142, 6)
    expect(erlangB(17, 10)).toBeCloseTo(0.012949, 6)
    expect(erlangB(11, 5)).toBeCloseTo(0.008287, 6)
  })

  it('stays finite for large N and load (no factorial overflow)', () => {
    const b = erlangB(1000, 950)
    expect(Number.isFinite(b)).toBe(true)
    expect(b).toBeGreaterThan(0)
    expect(b).toBeLessThan(0.05)
  })

  it('is 0 for N >= 1 with no load, and rejects bad arguments', () => {
    expect(erlangB(3, 0)).toBe(0)
    expect(() => erlangB(-1, 1)).toThrow(RangeError)
    expect(() => erlangB(1.5, 1)).toThrow(RangeError)
    expect(() => erlangB(1, Number.NaN)).toThrow(RangeError)
  })
})

describe('erlangServers', () => {
  it('finds the smallest N meeting the miss rate (table: 10 E at 1% needs 18, 5 E needs 11)', () => {
    expect(erlangServers(10, 0.01, 1000)).toBe(18)
    expect(erlangServers(5, 0.01, 1000)).toBe(11)
    expect(erlangServers(1, 0.5, 1000)).toBe(1)
    expect(erlangServers(1, 0.49, 1000)).toBe(2)
    expect(erlangServers(1, 0.2, 1000)).toBe(2)
  })

  it('stops at the limit', () => {
    expect(erlangServers(10, 0.01, 12)).toBe(12)
  })
})
