import { describe, expect, it } from 'vitest'
import { dueForRecycle, recycleAtMs } from './recycle.ts'

describe('maxWarmAgeS recycling', () => {
  it('is due at exactly maxWarmAgeS after the create, not a millisecond before', () => {
    expect(recycleAtMs(1000, 60)).toBe(61_000)
    expect(dueForRecycle(1000, 60_999, 60)).toBe(false)
    expect(dueForRecycle(1000, 61_000, 60)).toBe(true)
    expect(dueForRecycle(1000, 1_000_000, 60)).toBe(true)
  })

  it('never recycles with maxWarmAgeS 0', () => {
    expect(recycleAtMs(0, 0)).toBe(Infinity)
    expect(dueForRecycle(0, Number.MAX_SAFE_INTEGER, 0)).toBe(false)
  })
})
