import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MCP_MAX_FILE_BYTES, OutputClip, decodeContent, encodeContent } from './content.ts'

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'))

describe('file contents over MCP', () => {
  it('returns valid UTF-8 as text, byte for byte (a BOM and NULs included)', () => {
    const s = '\uFEFFhéllo\u0000wörld 🦀\n'
    const e = encodeContent(bytes(s), false)
    expect(e).toEqual({ encoding: 'utf8', content: s, bytes: Buffer.byteLength(s) })
  })

  it('returns bytes that are not UTF-8 as base64, and they decode back to the same bytes', () => {
    const b = new Uint8Array(randomBytes(4096))
    b[0] = 0xff // never valid UTF-8
    const e = encodeContent(b, false)
    expect(e.encoding).toBe('base64')
    const back = decodeContent(e.content, 'base64')
    expect('bytes' in back && Buffer.compare(Buffer.from(back.bytes), Buffer.from(b))).toBe(0)
  })

  it('a text prefix cut inside a multi-byte character stays text, without the partial character', () => {
    const full = bytes('ab🦀') // 🦀 is 4 bytes
    for (const cutAt of [3, 4, 5]) {
      const e = encodeContent(full.subarray(0, cutAt), true)
      expect(e, `cut at ${cutAt}`).toEqual({ encoding: 'utf8', content: 'ab', bytes: 2 })
    }
    expect(encodeContent(full.subarray(0, 6), true)).toEqual({ encoding: 'utf8', content: 'ab🦀', bytes: 6 })
  })

  it('a partial character at the end of a whole file makes it binary', () => {
    expect(encodeContent(bytes('ab🦀').subarray(0, 4), false).encoding).toBe('base64')
  })

  it('refuses base64 with characters Buffer.from would silently skip', () => {
    for (const bad of ['aGVsbG8', 'aGVs!G8=', 'aGVsbG8=x', '====']) {
      expect(decodeContent(bad, 'base64'), bad).toHaveProperty('error')
    }
    const ok = decodeContent('aGVs\nbG8=', 'base64')
    expect('bytes' in ok && Buffer.from(ok.bytes).toString()).toBe('hello')
  })

  it('refuses content larger than the limit, saying how to write it instead', () => {
    const r = decodeContent('x'.repeat(MCP_MAX_FILE_BYTES + 1), 'utf8')
    expect('error' in r && r.error).toMatch(/at most 4194304.*infra-lab cp/)
    expect(decodeContent('x'.repeat(MCP_MAX_FILE_BYTES), 'utf8')).toHaveProperty('bytes')
  })

  const clip = (chunks: string[], max: number) => {
    const c = new OutputClip(max)
    for (const x of chunks) c.push(x)
    return c.result()
  }

  it('keeps the head and the tail of long output, however it is chunked, and says how much it left out', () => {
    const text = `${'a'.repeat(500)}${'b'.repeat(500)}`
    for (const chunks of [[text], text.split(''), [text.slice(0, 10), text.slice(10, 990), text.slice(990)]]) {
      const r = clip(chunks, 100)
      expect(r.clipped).toBe(true)
      expect(r.text.startsWith(`${'a'.repeat(25)}\n[... 900 characters omitted`)).toBe(true)
      expect(r.text.endsWith(`]\n${'b'.repeat(75)}`)).toBe(true)
    }
    expect(clip(['sh', 'ort'], 100)).toEqual({ text: 'short', clipped: false })
    expect(clip(['x'.repeat(100)], 100)).toEqual({ text: 'x'.repeat(100), clipped: false })
  })

  it('never clips through a surrogate pair', () => {
    for (const max of [10, 11, 12, 13]) {
      const r = clip(['🦀'.repeat(100)], max)
      expect(r.text, `max ${max}`).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/)
    }
  })
})
