import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { ChunkText, collectOutput } from './exec-output.ts'

const chunks = (...parts: Array<['stdout' | 'stderr', Buffer]>) => Readable.from(parts.map(([stream, data]) => ({ stream, data })))

describe('foreground output', () => {
  const euro = Buffer.from('€', 'utf8') // three bytes

  it('decodes a character split across chunks whole, per stream', async () => {
    const out = await collectOutput(chunks(['stdout', euro.subarray(0, 1)], ['stderr', Buffer.from('e')], ['stdout', euro.subarray(1)]), 'utf8')
    expect(out).toEqual({ stdout: '€', stderr: 'e', truncated: false })
    const t = new ChunkText('utf8')
    expect(t.write('stdout', euro.subarray(0, 2))).toBe('')
    expect(t.write('stderr', Buffer.from('x'))).toBe('x')
    expect(t.write('stdout', euro.subarray(2))).toBe('€')
  })

  it('keeps at most the cap per stream, reads the rest, and says it truncated', async () => {
    const big = Buffer.alloc(10, 0x61)
    const out = await collectOutput(chunks(['stdout', big], ['stdout', big], ['stderr', Buffer.from('ok')], ['stdout', big]), 'utf8', 15)
    expect(out).toEqual({ stdout: 'a'.repeat(15), stderr: 'ok', truncated: true })
  })

  it('drops a character cut by the cap rather than ending in a replacement character', async () => {
    const out = await collectOutput(chunks(['stdout', Buffer.concat([Buffer.from('ab'), euro])]), 'utf8', 3)
    expect(out.stdout).toBe('ab')
    expect(out.truncated).toBe(true)
  })

  it('returns bytes that are not UTF-8 exactly with base64', async () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x80])
    const out = await collectOutput(chunks(['stdout', bytes.subarray(0, 1)], ['stdout', bytes.subarray(1)]), 'base64')
    expect(Buffer.from(out.stdout, 'base64')).toEqual(bytes)
    expect(new ChunkText('base64').write('stdout', bytes)).toBe(bytes.toString('base64'))
  })
})
