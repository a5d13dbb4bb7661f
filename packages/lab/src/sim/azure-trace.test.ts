import { describe, expect, it } from 'vitest'
import { readAzureCounts, scaleCounts, spreadCounts, type AzureSelection, type MinuteRange } from './azure-trace.ts'
import { azureCsv, perMinute } from './azure-trace.test-util.ts'

const SAMPLE = azureCsv([
  { fn: 'f-small', counts: { 1: 1, 2: 2, 1440: 3 } },
  { fn: 'f-big', counts: { 1: 10, 3: 5, 700: 100 } },
  { fn: 'f-late', counts: { 1439: 7, 1440: 40 } },
  { fn: 'f-none', counts: {} },
])

const read = (csv: string, select: AzureSelection, range?: MinuteRange) => readAzureCounts(csv.split('\n'), select, range)

async function problem(csv: string, select: AzureSelection, range?: MinuteRange): Promise<string> {
  try {
    await read(csv, select, range)
  } catch (err) {
    return (err as Error).message
  }
  throw new Error('the file was accepted')
}

describe('Azure Functions 2019 invocation counts', () => {
  it('are read for one function, the whole day by default', async () => {
    const r = await read(SAMPLE, { kind: 'function', hash: 'f-small' })
    expect(r.counts.length).toBe(1440)
    expect(r.fromMinute).toBe(1)
    expect(r.functions).toEqual(['f-small'])
    expect([r.counts[0], r.counts[1], r.counts[2], r.counts[1439]]).toEqual([1, 2, 0, 3])
    expect(r.counts.reduce((a, b) => a + b)).toBe(6)
  })

  it('sum the top N by invocations inside the minute range, largest first', async () => {
    const day = await read(SAMPLE, { kind: 'top', n: 2 })
    expect(day.functions).toEqual(['f-big', 'f-late'])
    expect(day.counts.reduce((a, b) => a + b)).toBe(115 + 47)
    const lateMinutes = await read(SAMPLE, { kind: 'top', n: 2 }, { from: 1439, to: 1440 })
    expect(lateMinutes.functions).toEqual(['f-late', 'f-small'])
    expect(lateMinutes.counts).toEqual([7, 43])
    expect(lateMinutes.fromMinute).toBe(1439)
    // A tie keeps the earlier row.
    const tie = azureCsv([{ fn: 'x', counts: { 1: 2 } }, { fn: 'y', counts: { 2: 2 } }, { fn: 'z', counts: { 1: 1 } }], 2)
    expect((await read(tie, { kind: 'top', n: 1 })).functions).toEqual(['x'])
    expect((await read(tie, { kind: 'top', n: 2 })).functions).toEqual(['x', 'y'])
  })

  it('sum every row with all', async () => {
    const r = await read(SAMPLE, { kind: 'all' }, { from: 1, to: 3 })
    expect(r.counts).toEqual([11, 2, 5])
    expect(r.functions).toEqual(['f-small', 'f-big', 'f-late', 'f-none'])
  })

  it('refuse a bad file or selection with the line', async () => {
    expect(await problem('', { kind: 'all' })).toBe('line 1: the file is empty: expected the header HashOwner,HashApp,HashFunction,Trigger,1,2,...,1440')
    expect(await problem('HashOwner,HashApp,HashFunction,1,2\n', { kind: 'all' })).toBe('line 1: column 4 of the header is "1", expected Trigger (header HashOwner,HashApp,HashFunction,Trigger,1,2,...)')
    expect(await problem('HashOwner,HashApp,HashFunction,Trigger,1,3\n', { kind: 'all' })).toBe('line 1: column 6 of the header is "3", expected 2 (minutes count from 1)')
    expect(await problem('HashOwner,HashApp,HashFunction,Trigger\n', { kind: 'all' })).toBe('line 1: the header has no minute columns (header HashOwner,HashApp,HashFunction,Trigger,1,2,...)')
    const small = azureCsv([{ fn: 'a', counts: { 1: 1 } }], 3)
    expect(await problem(`${small}o,a,b,http,1,2\n`, { kind: 'all' })).toBe('line 3: 6 fields, the header has 7')
    expect(await problem(`${small}o,a,b,http,1,x,3\n`, { kind: 'all' })).toBe('line 3: minute 2: count "x" is not a whole number >= 0')
    expect(await problem(`${small}o,a,b,http,1,2,-3\n`, { kind: 'all' })).toBe('line 3: minute 3: count "-3" is not a whole number >= 0')
    expect(await problem(`${small}o,a,b,http,1,2.5,3\n`, { kind: 'all' })).toBe('line 3: minute 2: count "2.5" is not a whole number >= 0')
    expect(await problem(small, { kind: 'function', hash: 'zz' })).toBe('no row has HashFunction zz (1 rows read)')
    expect(await problem(small, { kind: 'all' }, { from: 2, to: 4 })).toBe('minute range 2-4 is not within the file\'s minutes 1-3')
    expect(await problem(small.split('\n')[0]!, { kind: 'all' })).toBe('the file has a header but no rows')
  })

  it('check only the rows a function selection sums', async () => {
    const csv = `${azureCsv([{ fn: 'a', counts: { 2: 4 } }], 3)}o,a,b,http,1,x,3\n`
    expect((await read(csv, { kind: 'function', hash: 'a' })).counts).toEqual([0, 4, 0])
  })
})

describe('spreading a minute\'s count', () => {
  it('keeps exactly each minute\'s count in that minute', () => {
    const counts = [3, 0, 1, 25, 0, 60_001]
    for (const spread of ['even', 'poisson'] as const) {
      const t = spreadCounts(counts, spread, 1)
      expect(perMinute(t, counts.length)).toEqual(counts)
      expect(t.every((x, i) => i === 0 || x >= t[i - 1]!)).toBe(true)
      // Whole milliseconds: writing the trace cannot move an arrival into the next minute.
      expect(t.every((x) => Math.round(x * 1000) / 1000 === x)).toBe(true)
    }
  })

  it('evenly: at the middles of k equal slices', () => {
    expect([...spreadCounts([4, 1], 'even', 1)]).toEqual([7.5, 22.5, 37.5, 52.5, 90])
  })

  it('as a Poisson process: seeded, and spread over the whole minute', () => {
    const a = spreadCounts([1000], 'poisson', 3)
    expect(a).toEqual(spreadCounts([1000], 'poisson', 3))
    expect(a).not.toEqual(spreadCounts([1000], 'poisson', 4))
    const firstHalf = a.filter((x) => x < 30).length
    expect(Math.abs(firstHalf - 500)).toBeLessThan(4 * Math.sqrt(250))
  })

  it('scales counts, carrying the fraction to the next minute', () => {
    expect(scaleCounts([1, 1, 1, 1], 0.5)).toEqual([0, 1, 0, 1])
    expect(scaleCounts([10, 3, 7], 0.1)).toEqual([1, 0, 1])
    expect(scaleCounts([3, 3, 3], 1 / 3)).toEqual([1, 1, 1])
    expect(scaleCounts([2, 5], 3)).toEqual([6, 15])
  })
})
