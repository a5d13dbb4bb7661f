import { describe, expect, it } from 'vitest'
import { GIVE_UP_AFTER_MS, RETRY_MAX_MS, afterAttempt, retryDelayMs } from './worker.ts'

describe('webhook retry schedule', () => {
  it('waits 10 s after the first failure, doubling to 1 h, each wait within 20 % either side', () => {
    const mid = () => 0.5
    expect([1, 2, 3, 4, 9, 10, 11, 50].map((n) => retryDelayMs(n, mid))).toEqual([10_000, 20_000, 40_000, 80_000, 2_560_000, 3_600_000, 3_600_000, 3_600_000])
    expect(retryDelayMs(1, () => 0)).toBe(8_000)
    expect(retryDelayMs(1, () => 0.9999999)).toBe(12_000)
    expect(retryDelayMs(1000, () => 0.9999999)).toBe(RETRY_MAX_MS * 1.2)
  })

  it('delivers on success, retries a failure no later than 24 h after the event, and abandons one at or past it', () => {
    const failed = { status: 500, error: 'HTTP 500' }
    expect(afterAttempt({ attempts: 0, eventAt: 0 }, { status: 204, error: null }, 5)).toEqual({ at: 5, status: 204, error: null, state: 'delivered', nextAttemptAt: 5 })
    expect(afterAttempt({ attempts: 0, eventAt: 0 }, failed, 5, () => 0.5)).toMatchObject({ state: 'pending', nextAttemptAt: 10_005, error: 'HTTP 500' })
    expect(afterAttempt({ attempts: 20, eventAt: 0 }, failed, GIVE_UP_AFTER_MS - 60_000, () => 0.5)).toMatchObject({ state: 'pending', nextAttemptAt: GIVE_UP_AFTER_MS })
    expect(afterAttempt({ attempts: 21, eventAt: 0 }, failed, GIVE_UP_AFTER_MS)).toMatchObject({ state: 'abandoned', error: 'HTTP 500' })
    expect(afterAttempt({ attempts: 0, eventAt: 0 }, { status: null, error: 'ECONNREFUSED' }, GIVE_UP_AFTER_MS + 1)).toMatchObject({ state: 'abandoned', status: null })
  })
})
