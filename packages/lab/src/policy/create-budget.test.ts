import { describe, expect, it } from 'vitest'
import { Backoff } from './backoff.ts'
import { planCreates, TokenBucket } from './create-budget.ts'

describe('TokenBucket (maxCreatesPerMin)', () => {
  it('starts full, refills at perMin/60 s and says exactly when the next token accrues', () => {
    const b = new TokenBucket(6, 0) // one token per 10 s
    expect(b.take(0, 10)).toBe(6)
    expect(b.take(0, 1)).toBe(0)
    expect(b.msUntilNext(0)).toBe(10_000)
    expect(b.msUntilNext(2_500)).toBe(7_500)
    expect(b.take(9_999, 1)).toBe(0)
    expect(b.take(10_000, 1)).toBe(1)
    expect(b.available(1_000_000)).toBe(6) // capped at capacity
  })

  it('refuses a rate that is not positive', () => {
    expect(() => new TokenBucket(0, 0)).toThrow(/rate must be > 0/)
  })
})

describe('planCreates', () => {
  const noBackoff = () => new Backoff({ random: () => 0 })

  it('creates nothing when the pool is at or above its target', () => {
    expect(planCreates(0, 0, 4, noBackoff(), undefined)).toEqual({ count: 0 })
    expect(planCreates(0, -3, 4, noBackoff(), new TokenBucket(60, 0))).toEqual({ count: 0 })
  })

  it('without a budget, is bounded by the free concurrency only (never below 0)', () => {
    expect(planCreates(0, 10, 4, noBackoff(), undefined)).toEqual({ count: 4 })
    expect(planCreates(0, 10, -2, noBackoff(), undefined)).toEqual({ count: 0 })
  })

  it('takes from the budget; once exhausted, wakes when the next token accrues, and refills', () => {
    const budget = new TokenBucket(6, 0) // one per 10 s, 6 at once
    expect(planCreates(0, 4, 10, noBackoff(), budget)).toEqual({ count: 4 })
    expect(planCreates(0, 4, 10, noBackoff(), budget)).toEqual({ count: 2, wakeInMs: 10_000 })
    expect(planCreates(4_000, 1, 10, noBackoff(), budget)).toEqual({ count: 0, wakeInMs: 6_000 })
    expect(planCreates(10_000, 1, 10, noBackoff(), budget)).toEqual({ count: 1 })
    expect(planCreates(70_000, 10, 10, noBackoff(), budget)).toEqual({ count: 6, wakeInMs: 10_000 }) // full again, capped at 6
  })

  it('does not wait for the budget when the concurrency cap is what holds creates back', () => {
    const budget = new TokenBucket(6, 0)
    expect(planCreates(0, 10, 2, noBackoff(), budget)).toEqual({ count: 2 })
  })

  it('creates nothing while backing off, and wakes when the back-off ends', () => {
    const backoff = new Backoff({ baseMs: 1000, random: () => 0 })
    backoff.failure(0) // until 500
    const budget = new TokenBucket(60, 0)
    expect(planCreates(100, 3, 4, backoff, budget)).toEqual({ count: 0, wakeInMs: 400 })
    expect(budget.available(100)).toBe(60) // the budget was not touched
    expect(planCreates(500, 3, 4, backoff, budget)).toEqual({ count: 3 })
  })
})
