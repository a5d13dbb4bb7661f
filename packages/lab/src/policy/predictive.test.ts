import { describe, expect, it } from 'vitest'
import { erlangServers } from './erlang.ts'
import { ClaimHistory, claimHistoryFor, DAY_MS, HOUR_MS, WEEK_MS } from './history.ts'
import { decide } from './index.ts'
import { policySchema, type PolicyInput } from '../spec/policy-schema.ts'
import type { PolicyPoolSpec, PoolObservation } from './types.ts'

const spec = (p: Partial<PolicyInput> = {}, minSize = 0, maxSize = 1000): PolicyPoolSpec =>
  ({ minSize, maxSize, policy: policySchema.parse({ kind: 'predictive', targetMissRate: 0.01, ...p }) })
const NOW = Date.parse('2026-01-12T10:00:00Z')

/** A history with `perHour` claims in the hour holding t. */
function history(entries: [number, number][]): ClaimHistory {
  const h = new ClaimHistory()
  for (const [t, n] of entries) h.recordClaim(t, n)
  return h
}

describe('ClaimHistory', () => {
  it('counts claims per hour and forgets buckets older than its span', () => {
    const h = new ClaimHistory(HOUR_MS, 2 * HOUR_MS)
    h.recordClaim(0); h.recordClaim(10); h.recordClaim(HOUR_MS)
    expect(h.ratePerSAt(5)).toBeCloseTo(2 / 3600, 12)
    expect(h.ratePerSAt(HOUR_MS + 5)).toBeCloseTo(1 / 3600, 12)
    expect(h.ratePerSAt(2 * HOUR_MS)).toBeUndefined()
    h.recordClaim(3 * HOUR_MS) // reuses the first bucket's slot
    expect(h.ratePerSAt(0)).toBeUndefined()
  })
})

describe('decide: predictive', () => {
  const obs = (o: Partial<PoolObservation> = {}): PoolObservation => ({ ready: 0, starting: 0, claimed: 0, claimRatePerS: 0, meanStartS: 10, ...o })

  it('with a compressed day (dayS), reads yesterday one dayS earlier from 24 buckets a day', () => {
    const s = spec({ dayS: 240 }) // a 4-minute day: 10 s buckets
    const h = claimHistoryFor(s.policy)
    expect(h.bucketMs).toBe(10_000)
    for (let k = 0; k < 30; k++) h.recordClaim(NOW - 240_000 + 1000) // 30 claims in yesterday's bucket: 3/s
    const d = decide(s, obs({ claimHistory: h, claimRatePerS: 0.1, meanStartS: 1 }), NOW)
    expect(d.why).toContain('from yesterday')
    expect(d.target).toBe(erlangServers(3 * 1, 0.01, 1000))
    // The real calendar keeps hourly buckets and finds nothing a compressed day back.
    expect(claimHistoryFor(spec().policy).bucketMs).toBe(HOUR_MS)
    expect(decide(spec(), obs({ claimHistory: h, claimRatePerS: 0.1, meanStartS: 1 }), NOW).why).toContain('observed (no history)')
  })

  it('sizes on the weighted rate of the same hour yesterday and last week', () => {
    const h = history([[NOW - DAY_MS, 3600 * 2], [NOW - WEEK_MS, 3600 * 1]]) // 2/s and 1/s
    const d = decide(spec(), obs({ claimHistory: h, claimRatePerS: 0.1 }), NOW)
    expect(d.target).toBe(erlangServers(1.5 * 10, 0.01, 1000))
    expect(d.why).toContain('yesterday+last week')
  })

  it('uses whichever of the two is recorded', () => {
    expect(decide(spec(), obs({ claimHistory: history([[NOW - DAY_MS, 3600]]) }), NOW).target).toBe(erlangServers(10, 0.01, 1000))
    expect(decide(spec(), obs({ claimHistory: history([[NOW - WEEK_MS, 1800]]) }), NOW).target).toBe(erlangServers(5, 0.01, 1000))
  })

  it('looks at the middle of the next refill window (a peak that starts within E[B] counts)', () => {
    const h = history([[NOW - DAY_MS + HOUR_MS, 3600 * 3]])
    const late = NOW + HOUR_MS - 60_000 // one minute before the next hour, E[B] = 10 min
    expect(decide(spec(), obs({ claimHistory: h, meanStartS: 600 }), late).target).toBe(erlangServers(3 * 600, 0.01, 1000))
  })

  it('falls back to the observed rate with no history, like erlang', () => {
    expect(decide(spec(), obs({ claimRatePerS: 2, meanStartS: 5 }), NOW).target).toBe(18)
    expect(decide(spec({}, 3), obs(), NOW).target).toBe(3)
  })

  it('never forecasts below the observed rate unless told to', () => {
    const h = history([[NOW - DAY_MS, 360]]) // 0.1/s
    expect(decide(spec(), obs({ claimHistory: h, claimRatePerS: 2, meanStartS: 5 }), NOW).target).toBe(18)
    expect(decide(spec({ floorAtObserved: false }), obs({ claimHistory: h, claimRatePerS: 2, meanStartS: 5 }), NOW).target)
      .toBe(erlangServers(0.5, 0.01, 1000))
  })

  it('clamps to maxSize', () => {
    const h = history([[NOW - DAY_MS, 3600 * 50]])
    expect(decide(spec({}, 0, 40), obs({ claimHistory: h }), NOW).target).toBe(40)
  })
})
