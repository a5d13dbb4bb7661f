import { describe, expect, it } from 'vitest'
import { erlangServers } from './erlang.ts'
import { ClaimHistory, DAY_MS, HOUR_MS, WEEK_MS } from './history.ts'
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
