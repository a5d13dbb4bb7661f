import { readFile } from 'node:fs/promises'
import { USER_NAME_PROBLEM, isValidUserName } from '@infra-lab/protocol/limits-core'

/**
 * A workload as recorded arrivals: one claim per row, in time order. The same file feeds the
 * simulator (`arrivals.kind: "trace"`) and a replay against a live gateway.
 */
export interface Trace {
  /** Arrival times, seconds from the start, non-decreasing. */
  readonly t: Float64Array
  /** Session length of each arrival, when the trace has a `durationS` column. */
  readonly durationS: Float64Array | undefined
  /** User of each arrival, when the trace has a `user` column. */
  readonly user: readonly string[] | undefined
  /** Distinct users (1 when the trace names none). */
  readonly users: number
}

const COLUMNS = ['t', 'time', 'durationS', 'user'] as const
type Column = typeof COLUMNS[number]

/** A bad trace: the message names the line (1-based, counting comments and blank lines). */
export class TraceError extends Error {
  override readonly name = 'TraceError'
  constructor(readonly line: number, problem: string) {
    super(`line ${line}: ${problem}`)
  }
}

function header(text: string, line: number): Map<Column, number> {
  const cols = new Map<Column, number>()
  text.split(',').forEach((raw, i) => {
    const h = raw.trim()
    if (!(COLUMNS as readonly string[]).includes(h)) throw new TraceError(line, `unknown column "${h}" in the header (columns: t or time, then optional durationS, user)`)
    if (cols.has(h as Column)) throw new TraceError(line, `column "${h}" appears twice in the header`)
    cols.set(h as Column, i)
  })
  if (cols.has('t') && cols.has('time')) throw new TraceError(line, 'the header has both t and time: give one')
  if (!cols.has('t') && !cols.has('time')) throw new TraceError(line, 'the header needs a t (seconds from the start) or time (ISO 8601) column')
  return cols
}

/**
 * Parses a trace CSV. The first line that is not blank or a `#` comment is the header: `t`
 * (seconds from the start) or `time` (ISO 8601, relative to `startMs`), optional `durationS` and
 * `user`, in any order. Every row has as many fields as the header; times never decrease and
 * are never before the start. Errors are `TraceError`s naming the line.
 */
export function parseTrace(csv: string, startMs: number): Trace {
  const lines = csv.replace(/^\uFEFF/, '').split(/\r?\n/)
  let cols: Map<Column, number> | undefined
  let width = 0
  const t: number[] = [], d: number[] = [], u: string[] = []
  let last = -Infinity, lastLine = 0
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.trim()
    const n = i + 1
    if (text === '' || text.startsWith('#')) continue
    if (!cols) { cols = header(text, n); width = text.split(',').length; continue }
    const f = text.split(',').map((x) => x.trim())
    if (f.length !== width) throw new TraceError(n, `${f.length} field${f.length === 1 ? '' : 's'}, the header has ${width}`)
    let at: number
    if (cols.has('t')) {
      const raw = f[cols.get('t')!]!
      at = raw === '' ? NaN : Number(raw)
      if (!Number.isFinite(at)) throw new TraceError(n, `t "${raw}" is not a number of seconds`)
      if (at < 0) throw new TraceError(n, `t ${raw} is negative (seconds from the start)`)
    } else {
      const raw = f[cols.get('time')!]!
      const ms = Date.parse(raw)
      if (!Number.isFinite(ms)) throw new TraceError(n, `time "${raw}" is not an ISO 8601 time`)
      at = (ms - startMs) / 1000
      if (at < 0) throw new TraceError(n, `time ${raw} is before the start (${new Date(startMs).toISOString()})`)
    }
    if (at < last) throw new TraceError(n, `time goes back: ${at} s after ${last} s on line ${lastLine} (sort the trace by time)`)
    last = at; lastLine = n
    t.push(at)
    if (cols.has('durationS')) {
      const raw = f[cols.get('durationS')!]!
      const v = raw === '' ? NaN : Number(raw)
      if (!(v >= 0) || !Number.isFinite(v)) throw new TraceError(n, `durationS "${raw}" is not a number of seconds >= 0`)
      d.push(v)
    }
    if (cols.has('user')) {
      const raw = f[cols.get('user')!]!
      if (!isValidUserName(raw)) throw new TraceError(n, `user "${raw}" ${USER_NAME_PROBLEM}`)
      u.push(raw)
    }
  }
  if (!cols) {
    const last = lines.length - (lines.at(-1) === '' ? 1 : 0)
    throw new TraceError(Math.max(1, last), 'the trace is empty: it needs a header such as t,durationS,user')
  }
  return {
    t: Float64Array.from(t),
    durationS: cols.has('durationS') ? Float64Array.from(d) : undefined,
    user: cols.has('user') ? u : undefined,
    users: cols.has('user') ? new Set(u).size : 1,
  }
}

/** Seconds with millisecond resolution, without trailing zeros. */
function seconds(v: number): string {
  return String(Math.round(v * 1000) / 1000)
}

/**
 * Writes a trace as CSV (`t` and whichever of `durationS`, `user` it has), after `#` comment
 * lines (what made it: command, seed). Times are rounded to the millisecond.
 */
export function formatTrace(trace: Omit<Trace, 'users'>, comments: readonly string[] = []): string {
  const cols = ['t', ...(trace.durationS ? ['durationS'] : []), ...(trace.user ? ['user'] : [])]
  const out = comments.map((c) => `# ${c}\n`)
  out.push(`${cols.join(',')}\n`)
  for (let i = 0; i < trace.t.length; i++) {
    let row = seconds(trace.t[i]!)
    if (trace.durationS) row += `,${seconds(trace.durationS[i]!)}`
    if (trace.user) row += `,${trace.user[i]}`
    out.push(`${row}\n`)
  }
  return out.join('')
}

/** Reads and parses a trace file; errors start with the path (`traces/a.csv: line 3: ...`). */
export async function readTraceFile(path: string, startMs: number): Promise<Trace> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new Error(`${path}: cannot read the trace (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
  try {
    return parseTrace(text, startMs)
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`)
  }
}
