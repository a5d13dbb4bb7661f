import { describe, expect, it } from 'vitest'
import { readSse, SseParser, type SseEvent } from './sse.ts'

const enc = new TextEncoder()

/** Feeds `bytes` cut at the given offsets. */
function parse(bytes: Uint8Array, cuts: number[] = []): SseEvent[] {
  const events: SseEvent[] = []
  const p = new SseParser()
  let at = 0
  for (const c of [...cuts, bytes.length]) {
    events.push(...p.push(bytes.subarray(at, c)))
    at = c
  }
  events.push(...p.end())
  return events
}

// One stream with every rule in it: CRLF, lone CR and LF line ends, a comment, multi-line data,
// a field without a space, a field without a value, multi-byte UTF-8, a leading BOM.
const stream = enc.encode([
  '\uFEFF: keep-alive comment\r\n',
  'event: stdout\r\ndata: "h\u00e9llo \u{1F600}"\r\n\r\n',
  'event:stderr\rdata:"x"\r\r',
  'data: line one\ndata: line two\ndata\n\n',
  ': another comment\n',
  'id: 7\nevent: exit\ndata: {"exitCode":0}\n\n',
  'event: stdout\ndata: "unfinished"\n',
].join(''))

const expected: SseEvent[] = [
  { event: 'stdout', data: '"h\u00e9llo \u{1F600}"' },
  { event: 'stderr', data: '"x"' },
  { event: 'message', data: 'line one\nline two\n' },
  { event: 'exit', data: '{"exitCode":0}', id: '7' },
]

describe('SseParser', () => {
  it('parses comments, CRLF/CR/LF line ends, multi-line data and drops an unfinished last event', () => {
    expect(parse(stream)).toEqual(expected)
  })

  it('gives the same events whatever the chunk boundaries: every single cut, and one byte at a time', () => {
    for (let cut = 1; cut < stream.length; cut++) expect(parse(stream, [cut]), `cut at ${cut}`).toEqual(expected)
    expect(parse(stream, Array.from({ length: stream.length - 1 }, (_, i) => i + 1))).toEqual(expected)
  })

  it('decodes a character split across three chunks', () => {
    const bytes = enc.encode('data: "\u{1F600}"\n\n')
    expect(parse(bytes, [8, 9, 10])).toEqual([{ event: 'message', data: '"\u{1F600}"' }])
  })

  it('waits for a handler\'s promise before handing on the next event', async () => {
    const seen: string[] = []
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const done = readSse(new Response(stream).body!, async (e) => {
      seen.push(e.event)
      if (seen.length === 1) await gate
    })
    await new Promise((r) => setTimeout(r, 20))
    expect(seen).toEqual(['stdout'])
    release()
    await done
    expect(seen).toEqual(['stdout', 'stderr', 'message', 'exit'])
  })

  it('reads a response body to its end, and cancels it when a handler throws', async () => {
    const body = () => new Response(stream).body!
    const events: SseEvent[] = []
    await readSse(body(), (e) => void events.push(e))
    expect(events).toEqual(expected)

    let cancelled = false
    const endless = new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(enc.encode('data: x\n\n')),
      cancel: () => {
        cancelled = true
      },
    })
    await expect(readSse(endless, () => {
      throw new Error('stop')
    })).rejects.toThrow('stop')
    expect(cancelled).toBe(true)
  })
})
