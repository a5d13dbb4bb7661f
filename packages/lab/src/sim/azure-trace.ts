import { stream } from './rng.ts'
import { TraceError } from './trace.ts'

/**
 * Per-minute invocation counts in the layout of the Azure Functions 2019 trace (Shahrad et al.,
 * "Serverless in the Wild", ATC'20): `invocations_per_function_md.anon.dNN.csv`, one day per
 * file, header `HashOwner,HashApp,HashFunction,Trigger,1,2,...,1440`, one row per function.
 */
const KEYS = ['HashOwner', 'HashApp', 'HashFunction', 'Trigger'] as const

export type AzureSelection =
  | { readonly kind: 'function'; readonly hash: string }
  | { readonly kind: 'top'; readonly n: number }
  | { readonly kind: 'all' }

export interface AzureCounts {
  /** Invocations per minute, summed over the chosen rows, from `fromMinute` on. */
  readonly counts: number[]
  readonly fromMinute: number
  /** HashFunction of each row summed, in file order for `function`/`all`, largest first for `top`. */
  readonly functions: string[]
}

export interface MinuteRange { readonly from?: number; readonly to?: number }

function headerMinutes(text: string, line: number): number {
  const f = text.split(',').map((x) => x.trim())
  const expected = `${KEYS.join(',')},1,2,...`
  KEYS.forEach((k, i) => {
    if (f[i] !== k) throw new TraceError(line, `column ${i + 1} of the header is "${f[i] ?? ''}", expected ${k} (header ${expected})`)
  })
  const minutes = f.length - KEYS.length
  if (minutes < 1) throw new TraceError(line, `the header has no minute columns (header ${expected})`)
  for (let m = 1; m <= minutes; m++) {
    if (f[KEYS.length + m - 1] !== String(m)) throw new TraceError(line, `column ${KEYS.length + m} of the header is "${f[KEYS.length + m - 1]}", expected ${m} (minutes count from 1)`)
  }
  return minutes
}

/**
 * Reads the counts of the chosen rows over a minute range (1-based and inclusive, as the header
 * numbers them; default the whole day). Only the rows it sums are checked field by field.
 */
export async function readAzureCounts(lines: AsyncIterable<string> | Iterable<string>, select: AzureSelection, range: MinuteRange = {}): Promise<AzureCounts> {
  let minutes = 0
  let from = 1, to = 0
  let sum: number[] = []
  const functions: string[] = []
  const top: { total: number; hash: string; counts: number[] }[] = []
  let n = 0, rows = 0
  for await (const raw of lines) {
    n++
    const text = n === 1 ? raw.replace(/^\uFEFF/, '') : raw
    if (text.trim() === '') continue
    if (minutes === 0) {
      minutes = headerMinutes(text, n)
      from = range.from ?? 1
      to = range.to ?? minutes
      if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 1 && from <= to && to <= minutes)) {
        throw new Error(`minute range ${from}-${to} is not within the file's minutes 1-${minutes}`)
      }
      sum = new Array<number>(to - from + 1).fill(0)
      continue
    }
    rows++
    const f = text.split(',')
    if (f.length !== KEYS.length + minutes) throw new TraceError(n, `${f.length} fields, the header has ${KEYS.length + minutes}`)
    const hash = f[2]!.trim()
    if (select.kind === 'function' && hash !== select.hash) continue
    const counts = new Array<number>(to - from + 1)
    let total = 0
    for (let m = from; m <= to; m++) {
      const cell = f[KEYS.length + m - 1]!.trim()
      const c = cell === '' ? NaN : Number(cell)
      if (!Number.isInteger(c) || c < 0) throw new TraceError(n, `minute ${m}: count "${cell}" is not a whole number >= 0`)
      counts[m - from] = c
      total += c
    }
    if (select.kind === 'top') {
      // Keep the n largest rows, largest first; a tie keeps the earlier row in front.
      let i = top.length
      while (i > 0 && top[i - 1]!.total < total) i--
      if (i < select.n) {
        top.splice(i, 0, { total, hash, counts })
        if (top.length > select.n) top.pop()
      }
      continue
    }
    functions.push(hash)
    for (let i = 0; i < counts.length; i++) sum[i]! += counts[i]!
  }
  if (minutes === 0) throw new TraceError(Math.max(1, n), `the file is empty: expected the header ${KEYS.join(',')},1,2,...,1440`)
  for (const r of top) {
    functions.push(r.hash)
    for (let i = 0; i < r.counts.length; i++) sum[i]! += r.counts[i]!
  }
  if (select.kind === 'function' && functions.length === 0) throw new Error(`no row has HashFunction ${select.hash} (${rows} rows read)`)
  if (rows === 0) throw new Error('the file has a header but no rows')
  return { counts: sum, fromMinute: from, functions }
}

/**
 * Multiplies every count by `scale`, keeping the fraction each minute leaves over for the next
 * (so 0.5 x [1,1,1,1] is [0,1,0,1], and the total is the scaled total rounded down).
 */
export function scaleCounts(counts: readonly number[], scale: number): number[] {
  let carry = 0
  return counts.map((c) => {
    const x = c * scale + carry
    const k = Math.floor(x + 1e-9)
    carry = x - k
    return k
  })
}

export type Spread = 'even' | 'poisson'

/**
 * Arrival times (seconds from the first minute's start) with exactly each minute's count in that
 * minute: `even` spaces them evenly ((i + 1/2) x 60/k), `poisson` draws k uniform times, which is
 * a Poisson process given that the minute holds k arrivals. Times are whole milliseconds, so
 * writing the trace (to the millisecond) never moves one into the next minute.
 */
export function spreadCounts(counts: readonly number[], spread: Spread, seed: number): Float64Array {
  const rng = stream(seed, 1)
  const out: number[] = []
  counts.forEach((k, m) => {
    const start = m * 60
    if (spread === 'even') {
      for (let i = 0; i < k; i++) out.push((start * 1000 + Math.floor(((i + 0.5) * 60_000) / k)) / 1000)
      return
    }
    const within = Array.from({ length: k }, () => Math.floor(rng() * 60_000)).sort((a, b) => a - b)
    for (const ms of within) out.push((start * 1000 + ms) / 1000)
  })
  return Float64Array.from(out)
}
