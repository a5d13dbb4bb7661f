import { join } from 'node:path'
import { runFio, type FioResult } from './fio.ts'
import { readdirRepeats, WRITE_BYTES, type FsOp } from './fs-ops.ts'
import { prepareTarget } from './fs-target.ts'
import { runFsWorkers } from './fs-worker.ts'
import { LatencyHistogram, type LatencyStats } from './histogram.ts'
import { runNativeLoop, type NativeResult } from './native-loop.ts'

export interface FsBenchOptions {
  readonly path: string
  readonly ops: readonly FsOp[]
  /** Files (and directories) per worker. */
  readonly files: number
  readonly levels: readonly number[]
  /** Items per operation and worker done before the measurement and excluded from it. */
  readonly warmup: number
  readonly native: boolean
  readonly fio: boolean
  /** Rounds of every level, each followed by one native run, so both see the same disk weather. */
  readonly rounds: number
}

export interface FsOpResult {
  readonly op: FsOp
  readonly concurrency: number
  /** Timed operations over all workers. */
  readonly n: number
  /** Operations over all workers per second of the phase (common start to the last worker's end). */
  readonly opsPerS: number
  readonly latencyUs: LatencyStats
  readonly interrupted: boolean
  /** ops/s of each round; `opsPerS` is their median, `latencyUs` merges all rounds. */
  readonly roundsOpsPerS: number[]
}

export interface FsRatio {
  readonly op: FsOp
  readonly concurrency: number
  readonly opsPerS: number
  /** ops/s over the native loop's ops/s (one thread) on the same file system. */
  readonly vsNative?: number
  /** ops/s over fio's ops/s with as many jobs as workers. */
  readonly vsFio?: number
}

export interface FsBenchResult {
  readonly path: string
  readonly fsType: string
  readonly partial: boolean
  /** Why the run stopped early, if it did (interrupted, or the error of a failed operation). */
  readonly stoppedBy?: string
  readonly options: Omit<FsBenchOptions, 'path'> & { readonly writeBytes: number; readonly readdirRepeats: number }
  readonly results: FsOpResult[]
  readonly native: NativeResult | { readonly skipped: string }
  readonly fio: { readonly jobs: number; readonly result: FioResult }[]
  readonly ratios: FsRatio[]
}

/**
 * mdtest-style metadata benchmark: every operation in turn over `files` items per worker, for
 * each concurrency level, then the native ceiling and fio for reference, all in one scratch
 * directory under `path` that is removed afterwards, also on abort, error or process exit.
 */
export async function benchFs(o: FsBenchOptions, signal: AbortSignal, progress: (what: string) => void = () => undefined): Promise<FsBenchResult> {
  const maxWorkers = Math.max(...o.levels)
  const target = prepareTarget(o.path, maxWorkers * o.files * (WRITE_BYTES + 8192) + 16 * 2 ** 20)
  const onExit = () => target.cleanup()
  process.once('exit', onExit)
  const rd = readdirRepeats(o.files)
  const results: FsOpResult[] = []
  let native: FsBenchResult['native'] = { skipped: 'not requested (--no-native)' }
  const fio: FsBenchResult['fio'] = []
  let stoppedBy: string | undefined
  const hists = new Map<string, { h: LatencyHistogram; n: number; rates: number[]; interrupted: boolean }>()
  const nativeRounds: NativeResult[] = []
  try {
    rounds: for (let round = 0; round < o.rounds; round++) {
      for (const c of o.levels) {
        if (signal.aborted) break rounds
        progress(`round ${round + 1}/${o.rounds}: node c=${c}`)
        const { reports, error } = await runFsWorkers(join(target.workDir, `node-r${round}-c${c}`), c, { files: o.files, ops: o.ops, warmup: o.warmup, readdirRepeats: rd, writeBytes: WRITE_BYTES }, signal)
        for (const op of o.ops) {
          const rs = reports.filter((r) => r.op === op)
          if (rs.length === 0) continue
          const key = `${op}/${c}`
          const acc = hists.get(key) ?? { h: new LatencyHistogram(), n: 0, rates: [], interrupted: false }
          hists.set(key, acc)
          for (const r of rs) {
            acc.h.recordAll(r.latNs, r.n)
            acc.h.warmup += r.warmup
          }
          const n = rs.reduce((a, r) => a + r.n, 0)
          const spanMs = Math.max(...rs.map((r) => r.endMs)) - Math.min(...rs.map((r) => r.startMs))
          acc.n += n
          if (spanMs > 0 && n > 0) acc.rates.push(n / (spanMs / 1000))
          acc.interrupted ||= rs.some((r) => r.interrupted) || rs.length < c
        }
        if (error) {
          stoppedBy = error.code === 'ENOSPC' || error.code === 'EDQUOT'
            ? `the file system under ${target.path} is full (${error.code}): ${error.message}`
            : `${error.code}: ${error.message}`
          break rounds
        }
      }
      if (o.native && !signal.aborted) {
        progress(`round ${round + 1}/${o.rounds}: native loop`)
        const nr = await runNativeLoop(join(target.workDir, `native-r${round}`), { files: o.files, warmup: o.warmup, readdirRepeats: rd, writeBytes: WRITE_BYTES }, signal)
        nativeRounds.push(nr)
        if ('skipped' in nr) break
      }
    }
    if (o.fio && !stoppedBy) {
      for (const c of o.levels) {
        if (signal.aborted) break
        progress(`fio jobs=${c}`)
        fio.push({ jobs: c, result: await runFio(join(target.workDir, `fio-c${c}`), o.files, c, signal) })
        if ('skipped' in fio[0]!.result) break
      }
    }
  } catch (err) {
    if (!signal.aborted) stoppedBy = (err as Error).message
  } finally {
    target.cleanup()
    process.removeListener('exit', onExit)
  }
  for (const c of o.levels) {
    for (const op of o.ops) {
      const acc = hists.get(`${op}/${c}`)
      if (!acc) continue
      results.push({ op, concurrency: c, n: acc.n, opsPerS: median(acc.rates), latencyUs: acc.h.stats(1000), interrupted: acc.interrupted, roundsOpsPerS: acc.rates })
      acc.h.destroy()
    }
  }
  if (nativeRounds.length > 0) native = mergeNative(nativeRounds)
  if (signal.aborted) stoppedBy = 'interrupted'
  return {
    path: target.path,
    fsType: target.fsType,
    partial: stoppedBy !== undefined,
    ...(stoppedBy ? { stoppedBy } : {}),
    options: { ops: o.ops, files: o.files, levels: o.levels, warmup: o.warmup, native: o.native, fio: o.fio, rounds: o.rounds, writeBytes: WRITE_BYTES, readdirRepeats: rd },
    results,
    native,
    fio,
    ratios: ratiosOf(results, native, fio),
  }
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** Median ops/s per operation over the native rounds (each round's rate kept). */
function mergeNative(rounds: readonly NativeResult[]): NativeResult {
  const ok = rounds.filter((r): r is Extract<NativeResult, { rates: unknown }> => 'rates' in r)
  if (ok.length === 0) return rounds[0]!
  return {
    rates: ok[0]!.rates.map((first) => {
      const all = ok.map((r) => r.rates.find((x) => x.op === first.op)?.opsPerS ?? Number.NaN)
      return { op: first.op, n: first.n, opsPerS: median(all), roundsOpsPerS: all }
    }),
  }
}

export function ratiosOf(results: readonly FsOpResult[], native: FsBenchResult['native'], fio: FsBenchResult['fio']): FsRatio[] {
  return results.map((r) => {
    const nat = 'rates' in native ? native.rates.find((x) => x.op === r.op) : undefined
    const f = fio.find((x) => x.jobs === r.concurrency)?.result
    const fr = f && 'rates' in f ? f.rates.find((x) => x.op === r.op) : undefined
    return {
      op: r.op, concurrency: r.concurrency, opsPerS: r.opsPerS,
      ...(nat ? { vsNative: r.opsPerS / nat.opsPerS } : {}),
      ...(fr ? { vsFio: r.opsPerS / fr.opsPerS } : {}),
    }
  })
}
