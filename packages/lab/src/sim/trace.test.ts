import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { formatTrace, parseTrace, readTraceFile, TraceError } from './trace.ts'

const START_MS = Date.parse('2026-01-05T00:00:00Z')
const parse = (csv: string) => parseTrace(csv, START_MS)

function problem(csv: string): string {
  try {
    parse(csv)
  } catch (err) {
    expect(err).toBeInstanceOf(TraceError)
    return (err as Error).message
  }
  throw new Error('the trace was accepted')
}

describe('a trace', () => {
  it('is read with comments, blank lines, CRLF, a BOM and its columns in any order', () => {
    const tr = parse('\uFEFF# made by hand\r\n\r\nuser,t,durationS\r\nalice,0,30\r\n# a note\r\nbob,1.5,0\r\nalice,1.5,12.25\r\n')
    expect([...tr.t]).toEqual([0, 1.5, 1.5])
    expect([...tr.durationS!]).toEqual([30, 0, 12.25])
    expect(tr.user).toEqual(['alice', 'bob', 'alice'])
    expect(tr.users).toBe(2)
  })

  it('takes ISO times relative to the start, and needs neither durationS nor user', () => {
    const tr = parse('time\n2026-01-05T00:00:10Z\n2026-01-05T01:00:00.500Z\n')
    expect([...tr.t]).toEqual([10, 3600.5])
    expect(tr.durationS).toBeUndefined()
    expect(tr.user).toBeUndefined()
  })

  it('may have no arrivals after its header', () => {
    expect(parse('t,durationS\n').t.length).toBe(0)
  })

  it('is written to the millisecond and reads back the same', () => {
    const t = Float64Array.from([0, 0.1234, 7.5])
    const text = formatTrace({ t, durationS: Float64Array.from([1, 2.0004, 3]), user: ['a', 'b', 'a'] }, ['made by a test'])
    expect(text).toBe('# made by a test\nt,durationS,user\n0,1,a\n0.123,2,b\n7.5,3,a\n')
    const back = parse(text)
    expect([...back.t]).toEqual([0, 0.123, 7.5])
    expect(back.user).toEqual(['a', 'b', 'a'])
    expect(formatTrace({ t, durationS: undefined, user: undefined })).toBe('t\n0\n0.123\n7.5\n')
  })
})

describe('a bad trace is refused with its line', () => {
  it.each([
    ['an empty file', '', 'line 1: the trace is empty: it needs a header such as t,durationS,user'],
    ['only comments', '# nothing\n\n', 'line 2: the trace is empty: it needs a header such as t,durationS,user'],
    ['an unknown column', 't,duration\n1,2\n', 'line 1: unknown column "duration" in the header (columns: t or time, then optional durationS, user)'],
    ['no time column', '# x\ndurationS,user\n', 'line 2: the header needs a t (seconds from the start) or time (ISO 8601) column'],
    ['t and time', 't,time\n', 'line 1: the header has both t and time: give one'],
    ['a column twice', 't,user,user\n', 'line 1: column "user" appears twice in the header'],
    ['a missing field', 't,durationS\n0,1\n1\n', 'line 3: 1 field, the header has 2'],
    ['a field too many', 't\n0,1\n', 'line 2: 2 fields, the header has 1'],
    ['a bad number', 't\n1\nabc\n', 'line 3: t "abc" is not a number of seconds'],
    ['an empty time', 't,user\n,alice\n', 'line 2: t "" is not a number of seconds'],
    ['a negative time', 't\n-1\n', 'line 2: t -1 is negative (seconds from the start)'],
    ['a bad ISO time', 'time\nyesterday\n', 'line 2: time "yesterday" is not an ISO 8601 time'],
    ['a time before the start', 'time\n2026-01-04T23:59:59Z\n', 'line 2: time 2026-01-04T23:59:59Z is before the start (2026-01-05T00:00:00.000Z)'],
    ['a time going back (comments count as lines)', 't\n1\n# gap\n\n5\n4.5\n', 'line 6: time goes back: 4.5 s after 5 s on line 5 (sort the trace by time)'],
    ['a negative duration', 't,durationS\n0,-5\n', 'line 2: durationS "-5" is not a number of seconds >= 0'],
    ['an infinite duration', 't,durationS\n0,Infinity\n', 'line 2: durationS "Infinity" is not a number of seconds >= 0'],
    ['a user that is a path', 't,user\n0,../etc\n', 'line 2: user "../etc" must match ^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$'],
  ])('%s', (_what, csv, message) => {
    expect(problem(csv)).toBe(message)
  })

  it('and a file names its path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trace-'))
    writeFileSync(join(dir, 'bad.csv'), 't\n0\nx\n')
    await expect(readTraceFile(join(dir, 'bad.csv'), START_MS)).rejects.toThrow(`${join(dir, 'bad.csv')}: line 3: t "x" is not a number of seconds`)
    await expect(readTraceFile(join(dir, 'none.csv'), START_MS)).rejects.toThrow(`${join(dir, 'none.csv')}: cannot read the trace (ENOENT)`)
  })
})
