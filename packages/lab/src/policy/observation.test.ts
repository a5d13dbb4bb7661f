import { describe, expect, it } from 'vitest'
import { ClaimRate, DEFAULT_WINDOW_S, windowSOf } from './observation.ts'

describe('ClaimRate: the claim rate over a sliding window', () => {
  it('is 0 with no claims recorded', () => {
    expect(new ClaimRate().ratePerS(1_000_000, 60)).toBe(0)
  })

  it('counts claims in the sliding window', () => {
    const c = new ClaimRate()
    for (const t of [0, 1000, 2000, 9000]) c.recordClaim(t)
    expect(c.ratePerS(9000, 10)).toBe(0.4)
    expect(c.ratePerS(10_000, 10)).toBe(0.3) // the claim at 0 left the window (0, 10 s]
    expect(c.ratePerS(30_000, 10)).toBe(0)
  })

  it('drops a claim exactly windowS old and keeps one a millisecond younger', () => {
    const c = new ClaimRate()
    c.recordClaim(1)
    c.recordClaim(2)
    expect(c.ratePerS(10_001, 10)).toBe(0.1)
    expect(c.ratePerS(10_002, 10)).toBe(0)
  })

  it('does not count a claim recorded after the `now` it is asked about', () => {
    const c = new ClaimRate()
    c.recordClaim(5000)
    c.recordClaim(7000)
    expect(c.ratePerS(6000, 10)).toBe(0.1)
    expect(c.ratePerS(7000, 10)).toBe(0.2)
  })

  it('keeps counting right while its buffer grows and compacts (100,000 claims)', () => {
    const c = new ClaimRate()
    for (let t = 0; t < 100_000; t++) {
      c.recordClaim(t * 100) // 10 per second
      if (t % 997 === 0 && t > 1000) expect(c.ratePerS(t * 100, 60)).toBe(10)
    }
  })
})

describe('ClaimRate: the mean start time (refill time B)', () => {
  it('averages recent start times, with a default until one is seen', () => {
    const c = new ClaimRate(2, 1.5)
    expect(c.meanStartS()).toBe(1.5)
    c.recordStart(1000)
    c.recordStart(3000)
    expect(c.meanStartS()).toBe(2)
    c.recordStart(5000) // only the last 2 count
    expect(c.meanStartS()).toBe(4)
  })

  it('defaults to 1 s and averages the last 50 starts', () => {
    const c = new ClaimRate()
    expect(c.meanStartS()).toBe(1)
    for (let i = 1; i <= 60; i++) c.recordStart(i * 1000)
    expect(c.meanStartS()).toBe(35.5) // mean of 11..60 s
  })
})

describe('windowSOf', () => {
  it('is the policy\'s windowS, else 300 s', () => {
    expect(windowSOf({ kind: 'erlang', targetMissRate: 0.01, windowS: 60 })).toBe(60)
    expect(windowSOf({ kind: 'fixed', size: 3 })).toBe(DEFAULT_WINDOW_S)
    expect(DEFAULT_WINDOW_S).toBe(300)
  })
})
