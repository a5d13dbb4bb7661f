import { createReadStream } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import type { CliIo, ExitCode } from '../io.ts'
import { readAzureCounts, scaleCounts, spreadCounts, type AzureSelection, type Spread } from './azure-trace.ts'
import type { DurationSpec } from './rng.ts'
import { formatTrace, readTraceFile, type Trace } from './trace.ts'
import { decorate, generateArrivals, parseSessionSpec, type TraceShape } from './trace-gen.ts'

/** What every trace writer takes: where to, seed, session lengths and users. */
export interface TraceOutFlags {
  readonly out?: string
  readonly seed: number
  readonly session: string
  readonly users?: number
}

export interface TraceGenFlags extends TraceOutFlags {
  readonly duration: number
  readonly rate?: number
  readonly peakRate?: number
  readonly troughRate?: number
  readonly hourly?: number[]
  readonly peakHour: number
  readonly compress?: number
  readonly period?: number
  readonly burstRate?: number
  readonly burstEvery?: number
  readonly burstDuration?: number
  readonly burstOffset: number
}

export interface TraceImportAzureFlags extends TraceOutFlags {
  readonly function?: string
  readonly top?: number
  readonly all?: boolean
  readonly minutes?: string
  readonly scale: number
  readonly spread: Spread
}

type Shape = TraceShape['kind']

/** A trace is held in memory and written as text: beyond this, ask for a smaller one. */
export const MAX_TRACE_ARRIVALS = 10_000_000

class FlagError extends Error {}

function need<T>(v: T | undefined, flag: string, shape: Shape): T {
  if (v === undefined) throw new FlagError(`${shape} needs ${flag}`)
  return v
}

function shapeOf(kind: Shape, f: TraceGenFlags): TraceShape {
  switch (kind) {
    case 'poisson': return { kind, ratePerS: need(f.rate, '--rate', kind) }
    case 'diurnal': {
      if (f.compress !== undefined && f.period !== undefined) throw new FlagError('give --compress or --period, not both')
      const periodS = f.period ?? 86_400 / (f.compress ?? 1)
      if (f.hourly) {
        if (f.hourly.length !== 24) throw new FlagError(`--hourly needs 24 rates, one per hour (got ${f.hourly.length})`)
        if (f.peakRate !== undefined || f.troughRate !== undefined) throw new FlagError('give --hourly or --peak-rate/--trough-rate, not both')
        return { kind, peakRatePerS: 0, troughRatePerS: 0, hourlyRatesPerS: f.hourly, peakHour: f.peakHour, periodS }
      }
      const peak = need(f.peakRate, '--peak-rate (or --hourly)', kind)
      const trough = need(f.troughRate, '--trough-rate', kind)
      if (trough > peak) throw new FlagError(`--trough-rate ${trough} is above --peak-rate ${peak}`)
      return { kind, peakRatePerS: peak, troughRatePerS: trough, peakHour: f.peakHour, periodS }
    }
    case 'bursty': {
      const burstEveryS = need(f.burstEvery, '--burst-every', kind)
      const burstS = need(f.burstDuration, '--burst-duration', kind)
      if (burstS > burstEveryS) throw new FlagError(`--burst-duration ${burstS} is longer than --burst-every ${burstEveryS}`)
      return { kind, ratePerS: need(f.rate, '--rate', kind), burstRatePerS: need(f.burstRate, '--burst-rate', kind), burstEveryS, burstS, burstOffsetS: f.burstOffset }
    }
  }
}

function describeShape(s: TraceShape): string {
  switch (s.kind) {
    case 'poisson': return `poisson ratePerS=${s.ratePerS}`
    case 'diurnal': return `diurnal ${s.hourlyRatesPerS ? `hourlyRatesPerS=${s.hourlyRatesPerS.join(';')}` : `peakRatePerS=${s.peakRatePerS} troughRatePerS=${s.troughRatePerS} peakHour=${s.peakHour}`} periodS=${s.periodS}`
    case 'bursty': return `bursty ratePerS=${s.ratePerS} burstRatePerS=${s.burstRatePerS} burstEveryS=${s.burstEveryS} burstS=${s.burstS} burstOffsetS=${s.burstOffsetS}`
  }
}

async function writeTrace(t: Float64Array, spanS: number, comments: string[], f: TraceOutFlags, session: DurationSpec | undefined, io: CliIo): Promise<void> {
  const trace = decorate(t, { seed: f.seed, ...(session ? { session } : {}), ...(f.users !== undefined ? { users: f.users } : {}) })
  const text = formatTrace(trace, [...comments, `seed=${f.seed} session=${f.session}${f.users !== undefined ? ` users=${f.users}` : ''} spanS=${spanS}`])
  const summary = `${t.length} arrivals over ${spanS} s (${(t.length / spanS).toFixed(3)}/s)`
  if (f.out === undefined || f.out === '-') {
    io.stdout.write(text)
    io.stderr.write(`trace: ${summary}\n`)
    return
  }
  await writeFile(resolve(io.cwd, f.out), text)
  io.stdout.write(`wrote ${f.out}: ${summary}\n`)
}

function fail(io: CliIo, cmd: string, err: unknown): ExitCode {
  io.stderr.write(`infra-lab ${cmd}: ${err instanceof Error ? err.message : String(err)}\n`)
  return err instanceof FlagError ? 2 : 1
}

/** `infra-lab trace gen poisson|diurnal|bursty`: a synthetic trace, deterministic given --seed. */
export async function traceGenCommand(kind: Shape, f: TraceGenFlags, io: CliIo): Promise<ExitCode> {
  try {
    const shape = shapeOf(kind, f)
    const session = parseSessionSpecFlag(f.session)
    const t = generateArrivals(shape, f.duration, f.seed, MAX_TRACE_ARRIVALS)
    await writeTrace(t, f.duration, [`infra-lab trace gen: ${describeShape(shape)} durationS=${f.duration}`], f, session, io)
    return 0
  } catch (err) {
    return fail(io, `trace gen ${kind}`, err)
  }
}

function parseSessionSpecFlag(text: string): DurationSpec | undefined {
  try {
    return parseSessionSpec(text)
  } catch (err) {
    throw new FlagError(`--session: ${(err as Error).message}`)
  }
}

function selection(f: TraceImportAzureFlags): AzureSelection {
  const given = [f.function !== undefined, f.top !== undefined, f.all === true].filter(Boolean).length
  if (given !== 1) throw new FlagError('give exactly one of --function HASH, --top N, --all')
  if (f.function !== undefined) return { kind: 'function', hash: f.function }
  if (f.top !== undefined) return { kind: 'top', n: f.top }
  return { kind: 'all' }
}

/** x rounded down to two significant digits. */
function roundDown2(x: number): number {
  const unit = 10 ** (Math.floor(Math.log10(x)) - 1)
  return Number((Math.floor(x / unit) * unit).toPrecision(2))
}

function minuteRange(text: string | undefined): { from?: number; to?: number } {
  if (text === undefined) return {}
  const m = /^(\d+)(?:-(\d+))?$/.exec(text)
  if (!m) throw new FlagError(`--minutes "${text}": give FROM-TO or one minute, e.g. 481-960 (1-based, inclusive)`)
  return { from: Number(m[1]), to: Number(m[2] ?? m[1]) }
}

/** `infra-lab trace import-azure FILE`: per-minute counts of the Azure Functions 2019 trace as arrivals. */
export async function traceImportAzureCommand(file: string, f: TraceImportAzureFlags, io: CliIo): Promise<ExitCode> {
  const path = resolve(io.cwd, file)
  try {
    const select = selection(f)
    const range = minuteRange(f.minutes)
    const session = parseSessionSpecFlag(f.session)
    const input = createReadStream(path, 'utf8')
    const opened = new Promise<void>((ok, ko) => { input.once('open', () => ok()); input.once('error', ko) })
    await opened.catch((err: NodeJS.ErrnoException) => { throw new Error(`${path}: cannot read (${err.code ?? err.message})`) })
    const lines = createInterface({ input, crlfDelay: Infinity })
    let read
    try {
      read = await readAzureCounts(lines, select, range)
    } catch (err) {
      throw new Error(`${path}: ${(err as Error).message}`)
    } finally {
      lines.close()
      input.destroy()
    }
    const counts = f.scale === 1 ? read.counts : scaleCounts(read.counts, f.scale)
    const total = counts.reduce((a, b) => a + b, 0)
    if (total > MAX_TRACE_ARRIVALS) {
      throw new FlagError(`${total} arrivals: more than ${MAX_TRACE_ARRIVALS}; give --scale ${roundDown2((MAX_TRACE_ARRIVALS / total) * f.scale)} or less, or fewer --minutes`)
    }
    const t = spreadCounts(counts, f.spread, f.seed)
    const to = read.fromMinute + counts.length - 1
    const which = select.kind === 'function' ? `function ${select.hash}` : select.kind === 'top' ? `top ${read.functions.length} functions` : `all ${read.functions.length} functions`
    await writeTrace(t, counts.length * 60, [
      `infra-lab trace import-azure: ${file} ${which}, minutes ${read.fromMinute}-${to} (t=0 is minute ${read.fromMinute}'s start), scale=${f.scale} spread=${f.spread}`,
      ...(select.kind === 'top' ? [`functions: ${read.functions.join(' ')}`] : []),
    ], f, session, io)
    return 0
  } catch (err) {
    return fail(io, 'trace import-azure', err)
  }
}

/** `infra-lab trace info FILE`: checks a trace and prints what it holds. */
export async function traceInfoCommand(file: string, f: { startAt: string; json?: boolean }, io: CliIo): Promise<ExitCode> {
  const startMs = Date.parse(f.startAt)
  if (!Number.isFinite(startMs)) return fail(io, 'trace info', new FlagError(`--start-at "${f.startAt}" is not an ISO 8601 time`))
  let trace: Trace
  try {
    trace = await readTraceFile(resolve(io.cwd, file), startMs)
  } catch (err) {
    return fail(io, 'trace info', err)
  }
  const info = traceInfo(trace)
  if (f.json) io.stdout.write(`${JSON.stringify(info)}\n`)
  else {
    io.stdout.write(`arrivals      ${info.arrivals}\nlast at       ${info.lastS} s\nmean rate     ${info.meanRatePerS.toFixed(3)}/s (to the last arrival)\n`)
    io.stdout.write(`busiest min   ${info.busiestMinute.count} arrivals (minute ${info.busiestMinute.index} from 0)\n`)
    if (info.durationS) io.stdout.write(`durationS     mean ${info.durationS.meanS.toFixed(1)}, max ${info.durationS.maxS}\n`)
    io.stdout.write(`users         ${info.users ?? 'none named'}\n`)
  }
  return 0
}

export function traceInfo(trace: Trace) {
  const n = trace.t.length
  const lastS = n ? trace.t[n - 1]! : 0
  const perMinute = new Map<number, number>()
  for (const t of trace.t) perMinute.set(Math.floor(t / 60), (perMinute.get(Math.floor(t / 60)) ?? 0) + 1)
  let busiest = { index: 0, count: 0 }
  for (const [index, count] of perMinute) if (count > busiest.count) busiest = { index, count }
  const d = trace.durationS
  return {
    arrivals: n,
    lastS,
    meanRatePerS: lastS > 0 ? n / lastS : 0,
    busiestMinute: busiest,
    durationS: d && d.length ? { meanS: d.reduce((a, b) => a + b, 0) / d.length, maxS: d.reduce((a, b) => Math.max(a, b), 0) } : undefined,
    users: trace.user ? trace.users : undefined,
  }
}
