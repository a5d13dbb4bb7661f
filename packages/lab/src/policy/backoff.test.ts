import { describe, expect, it } from 'vitest'
import { Backoff } from './backoff.ts'

describe('Backoff after failed creates', () => {
  it('is not active before any failure', () => {
    const b = new Backoff()
    expect(b.active(0)).toBe(false)
    expect(b.backoffUntil).toBeUndefined()
    expect(b.consecutiveFailures).toBe(0)
  })

  it('doubles from base up to the cap, with jitter in [0.5, 1), and resets on success', () => {
    let r = 0
    const b = new Backoff({ baseMs: 100, capMs: 1000, random: () => r })
    expect(b.failure(0)).toBe(50)
    expect(b.failure(0)).toBe(100)
    expect(b.failure(0)).toBe(200)
    r = 0.999
    expect(b.failure(0)).toBe(800) // 800 * 0.9995 rounded
    expect(b.failure(0)).toBe(1000) // capped at 1000 * 0.9995
    expect(b.active(999)).toBe(true)
    expect(b.active(1000)).toBe(false) // active until, not through, backoffUntil
    expect(b.consecutiveFailures).toBe(5)
    b.success()
    expect(b.backoffUntil).toBeUndefined()
    expect(b.active(0)).toBe(false)
    r = 0
    expect(b.failure(5000)).toBe(5050) // back at base after the reset
  })

  it('stays at the cap however many failures follow (no overflow)', () => {
    const b = new Backoff({ random: () => 0.5 })
    let until = 0
    for (let i = 0; i < 1000; i++) until = b.failure(0)
    expect(until).toBe(45_000) // 60 s cap * 0.75
  })
})
