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
  it('agrees with a naive tail for random writes of every size, and keeps no reference to them', () => {
    let seed = 7
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
    for (const cap of [1, 5, 64, 4096, 10_000]) {
      const r = new ByteRing(cap)
      let tail = Buffer.alloc(0)
      for (let i = 0; i < 300; i++) {
        const data = Buffer.from(Array.from({ length: rnd(cap * 2 + 3) }, () => rnd(256)))
        tail = Buffer.concat([tail, data]).subarray(-cap)
        tail = Buffer.from(tail)
        r.push(data)
        data.fill(0) // the caller reuses its buffer: the ring must hold a copy
        expect(r.contents().equals(tail), `capacity ${cap}, write ${i}`).toBe(true)
      }
    }
  })
  it('is empty before any write', () => {
    expect(new ByteRing(8).contents().length).toBe(0)
  })
})
