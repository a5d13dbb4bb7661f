import { describe, expect, it } from 'vitest'
import { StartLog } from './start-log.ts'

describe('StartLog', () => {
  it('keeps the newest creates, oldest first, and counts every one', () => {
    const log = new StartLog(3)
    for (let i = 1; i <= 5; i++) log.record(1000 * i, 10 * i)
    expect(log.count).toBe(5)
    expect(log.recent()).toEqual([{ at: 3000, ms: 30 }, { at: 4000, ms: 40 }, { at: 5000, ms: 50 }])
  })
})
