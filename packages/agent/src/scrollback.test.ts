import { describe, expect, it } from 'vitest'
import { Scrollback } from './scrollback.ts'

const text = (s: Scrollback) => s.snapshot().toString('latin1')

describe('Scrollback', () => {
  it('holds everything while under capacity, oldest first', () => {
    const s = new Scrollback(16)
    s.append(Buffer.from('abc'))
    s.append(Buffer.from('def'))
    expect(text(s)).toBe('abcdef')
    expect(s.length).toBe(6)
  })

  it('keeps only the newest bytes once it wraps', () => {
    const s = new Scrollback(8)
    s.append(Buffer.from('012345'))
    s.append(Buffer.from('6789ab'))
    expect(text(s)).toBe('456789ab')
    s.append(Buffer.from('c'))
    expect(text(s)).toBe('56789abc')
  })

  it('keeps the tail of a chunk larger than the whole ring', () => {
    const s = new Scrollback(4)
    s.append(Buffer.from('x'))
    s.append(Buffer.from('abcdefgh'))
    expect(text(s)).toBe('efgh')
    s.append(Buffer.from('ij'))
    expect(text(s)).toBe('ghij')
  })

  it('matches a naive model over many random appends', () => {
    const s = new Scrollback(37)
    let model = ''
    let seed = 7
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
    for (let i = 0; i < 500; i++) {
      const chunk = String.fromCharCode(...Array.from({ length: rand(60) }, () => 97 + rand(26)))
      s.append(Buffer.from(chunk, 'latin1'))
      model = (model + chunk).slice(-37)
      expect(text(s)).toBe(model)
    }
  })

  it('snapshot is a copy and clear empties it', () => {
    const s = new Scrollback(8)
    s.append(Buffer.from('hello'))
    const snap = s.snapshot()
    s.append(Buffer.from('XYZ'))
    expect(snap.toString()).toBe('hello')
    s.clear()
    expect(s.length).toBe(0)
    expect(text(s)).toBe('')
    s.append(Buffer.from('ok'))
    expect(text(s)).toBe('ok')
  })

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new Scrollback(0)).toThrow(RangeError)
  })
})
