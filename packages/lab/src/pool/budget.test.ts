import { describe, expect, it } from 'vitest'
import { Backoff } from './backoff.ts'
import { ClaimRate } from './claim-rate.ts'
import { Expectations } from './expectations.ts'
import { newSandboxId } from './ids.ts'
import { TokenBucket } from './rate-limit.ts'

describe('TokenBucket', () => {
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
})

describe('Backoff', () => {
  it('doubles from base up to the cap, with jitter in [0.5, 1), and resets on success', () => {
    let r = 0
    const b = new Backoff({ baseMs: 100, capMs: 1000, random: () => r })
    expect(b.active(0)).toBe(false)
    expect(b.failure(0)).toBe(50)
    expect(b.failure(0)).toBe(100)
    expect(b.failure(0)).toBe(200)
    r = 0.999
    expect(b.failure(0)).toBe(800) // 800 * 0.9995 rounded
    expect(b.failure(0)).toBe(1000) // capped at 1000 * 0.9995
    expect(b.active(999)).toBe(true)
    expect(b.active(1000)).toBe(false)
    expect(b.consecutiveFailures).toBe(5)
    b.success()
    expect(b.backoffUntil).toBeUndefined()
    r = 0
    expect(b.failure(5000)).toBe(5050)
  })
})

describe('ClaimRate', () => {
  it('counts claims in the sliding window', () => {
    const c = new ClaimRate()
    for (const t of [0, 1000, 2000, 9000]) c.recordClaim(t)
    expect(c.ratePerS(9000, 10)).toBe(0.4)
    expect(c.ratePerS(10_000, 10)).toBe(0.3) // the claim at 0 left the window (0, 10 s]
    expect(c.ratePerS(30_000, 10)).toBe(0)
  })

  it('averages recent start times, with a default until one is seen', () => {
    const c = new ClaimRate(2, 1.5)
    expect(c.meanStartS()).toBe(1.5)
    c.recordStart(1000)
    c.recordStart(3000)
    expect(c.meanStartS()).toBe(2)
    c.recordStart(5000) // only the last 2 count
    expect(c.meanStartS()).toBe(4)
  })
})

describe('Expectations', () => {
  it('counts warm creates and cold ones apart, and refuses duplicates', () => {
    const e = new Expectations()
    e.add('a', 0)
    e.add('b', 0, true)
    expect(e.size).toBe(2)
    expect(e.warmCount).toBe(1)
    expect(() => e.add('a', 1)).toThrow(/already expected/)
    e.done('a')
    expect(e.has('a')).toBe(false)
    expect(e.warmCount).toBe(0)
  })
})

describe('newSandboxId', () => {
  it('is sb- and 12 base32 characters, and random', () => {
    const ids = new Set(Array.from({ length: 1000 }, newSandboxId))
    expect(ids.size).toBe(1000)
    for (const id of ids) expect(id).toMatch(/^sb-[a-z2-7]{12}$/)
  })
})
