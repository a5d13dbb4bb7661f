import { describe, expect, it } from 'vitest'
import { Expectations } from './expectations.ts'

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
