import { execFile } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** fio's metadata engines and the `bench fs` operation each one corresponds to. */
export const FIO_ENGINES = [
  { engine: 'filecreate', op: 'create', rw: 'write' },
  { engine: 'filestat', op: 'stat', rw: 'read' },
  { engine: 'filedelete', op: 'unlink', rw: 'read' },
] as const

export interface FioRate {
  readonly engine: (typeof FIO_ENGINES)[number]['engine']
  readonly op: (typeof FIO_ENGINES)[number]['op']
  readonly jobs: number
  readonly n: number
  readonly opsPerS: number
  /** Completion latency percentiles from fio, microseconds. */
  readonly latencyUs: { readonly p50: number; readonly p99: number }
}

export type FioResult = { readonly version: string; readonly rates: FioRate[] } | { readonly skipped: string }

export async function fioVersion(): Promise<string | undefined> {
  try {
    return (await run('fio', ['--version'])).stdout.trim()
  } catch {
    return undefined
  }
}

/** The fio command line for one engine (shown in the report so anyone can re-run it). */
export function fioArgs(engine: string, rw: string, dir: string, files: number, jobs: number): string[] {
  return [
    `--name=${engine}`, `--ioengine=${engine}`, `--directory=${dir}`, '--filename_format=fio.$jobnum.$filenum',
    `--nrfiles=${files}`, '--filesize=4k', '--bs=4k', `--rw=${rw}`, '--openfiles=1', '--fallocate=none',
    '--create_on_open=1', `--numjobs=${jobs}`, '--group_reporting', '--output-format=json',
  ]
}

/**
 * Runs filecreate, then filestat and filedelete on the files it made, in `dir` (made here and
 * left empty: filedelete removes what filecreate made; the caller removes the directory).
 */
export async function runFio(dir: string, files: number, jobs: number, signal: AbortSignal): Promise<FioResult> {
  const version = await fioVersion()
  if (!version) return { skipped: 'fio is not installed (apt-get install fio)' }
  mkdirSync(dir, { recursive: true })
  const rates: FioRate[] = []
  for (const e of FIO_ENGINES) {
    if (signal.aborted) break
    const { stdout } = await run('fio', fioArgs(e.engine, e.rw, dir, files, jobs), { signal, maxBuffer: 16 * 1024 * 1024 })
    const json = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: Record<string, { iops: number; total_ios: number; clat_ns: { percentile?: Record<string, number> } }>[] }
    const side = json.jobs[0]![e.rw]!
    const pct = side.clat_ns.percentile ?? {}
    rates.push({
      engine: e.engine, op: e.op, jobs, n: side.total_ios, opsPerS: side.iops,
      latencyUs: { p50: (pct['50.000000'] ?? Number.NaN) / 1000, p99: (pct['99.000000'] ?? Number.NaN) / 1000 },
    })
  }
  return { version, rates }
}
