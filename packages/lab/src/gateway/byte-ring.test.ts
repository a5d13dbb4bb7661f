import { describe, expect, it } from 'vitest'
import { ByteRing } from './byte-ring.ts'

describe('ByteRing', () => {
  it('keeps exactly the last capacity bytes', () => {
    const r = new ByteRing(10)
    let all = ''
    for (let i = 0; i < 50; i++) {
      const s = `${i},`
      r.push(Buffer.from(s))
      all += s
      expect(r.contents().toString()).toBe(all.slice(-10))
    }
  })
  it('handles one write larger than the capacity', () => {
    const r = new ByteRing(4)
    r.push(Buffer.from('abcdefgh'))
    expect(r.contents().toString()).toBe('efgh')
  })
  it('is empty before any write', () => {
    expect(new ByteRing(8).contents().length).toBe(0)
  })
})
