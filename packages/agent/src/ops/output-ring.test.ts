import { describe, expect, it } from 'vitest'
import { MAX_RING_CHUNKS, OutputRing } from './output-ring.ts'

const text = (ring: OutputRing, from = ring.start) => {
  let out = ''
  for (let at = from, p = ring.at(at); p; at = p.next, p = ring.at(at)) out += `${p.fd}:${p.data.toString()}|`
  return out
}

describe('the output ring of a process', () => {
  it('keeps both fds in order, joining small writes to the same fd', () => {
    const ring = new OutputRing()
    ring.append(1, Buffer.from('a'))
    ring.append(1, Buffer.from('b'))
    ring.append(2, Buffer.from('E'))
    ring.append(1, Buffer.from('c'))
    expect(text(ring)).toBe('1:ab|2:E|1:c|')
    expect([ring.start, ring.end, ring.bytes]).toEqual([0, 4, 4])
  })

  it('drops the oldest bytes, and a reader behind them skips to the oldest kept', () => {
    const ring = new OutputRing()
    ring.append(1, Buffer.from('hello'))
    ring.append(2, Buffer.from('world'))
    expect(ring.dropOldest(3)).toBe(3)
    expect(text(ring, 0)).toBe('1:lo|2:world|')
    expect(ring.at(7)).toMatchObject({ fd: 2, next: 10 })
    expect(ring.at(7)!.data.toString()).toBe('rld')
    expect(ring.at(10)).toBeUndefined()
    expect(ring.clear()).toBe(7)
    expect(ring.at(0)).toBeUndefined()
  })

  it(`holds at most ${MAX_RING_CHUNKS} chunks, however the writes alternate`, () => {
    const ring = new OutputRing()
    let dropped = 0
    for (let i = 0; i < MAX_RING_CHUNKS + 10; i++) dropped += ring.append(1 + (i % 2), Buffer.from('x'))
    expect(dropped).toBe(10)
    expect(ring.bytes).toBe(MAX_RING_CHUNKS)
    expect(ring.start).toBe(10)
  })
})
