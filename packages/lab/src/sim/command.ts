import { readFile, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { CliIo, ExitCode } from '../io.ts'
import { simulate } from './model.ts'
import { resultHtml, resultJson, resultTable } from './report.ts'
import { parseScenario } from './scenario.ts'
import { grid, paramsLabel, paretoFrontier, parseAxis, parseSet, recommend, setPath, type SweepPoint } from './sweep.ts'
import { defaultWorkers, runJobs, workerLoop } from './sweep-runner.ts'
import { readReplayFile, startsFromScenario, type CreateDraws } from './starts-from.ts'
import { readTraceFile, type Trace } from './trace.ts'

export interface SimFlags {
  readonly json?: boolean
  readonly series?: boolean
  readonly report?: string
  readonly seed?: number
  readonly set?: readonly string[]
  readonly sweep?: readonly string[]
  readonly targetP99S?: number
  readonly workers?: number
  readonly results?: string
  readonly worker?: boolean
  /** With startsFrom: the replayed trace, and its compression (default: the replay's). */
  readonly trace?: string
  readonly speed?: number
  readonly startsFrom?: string
  /** With startsFrom: a create's time among those launched nearest its moment (timed) or among all (any). */
  readonly createDraws?: CreateDraws
}

/** `infra-lab sim FILE`: one run (table, --json, --report) or a --sweep over parameters. */
export async function simCommand(file: string | undefined, flags: SimFlags, io: CliIo, signal?: AbortSignal): Promise<ExitCode> {
  if (flags.worker) return workerLoop()
  if (flags.results) {
    const { writeResults } = await import('./results.ts')
    return writeResults(resolve(io.cwd, flags.results), io, { workers: flags.workers ?? defaultWorkers(), workerScript: process.argv[1] })
  }
  if (flags.startsFrom || flags.trace || flags.createDraws) return predictReplay(file, flags, io)
  if (!file) {
    io.stderr.write('infra-lab sim: give a scenario file (see --help)\n')
    return 2
  }
  const path = resolve(io.cwd, file)
  let input: unknown
  try {
    input = JSON.parse(await readFile(path, 'utf8'))
    if (flags.seed !== undefined) input = setPath(input, 'seed', flags.seed)
    for (const s of flags.set ?? []) { const { path: p, value } = parseSet(s); input = setPath(input, p, value) }
  } catch (err) {
    io.stderr.write(`infra-lab sim: ${path}: ${err instanceof Error ? err.message : String(err)}\n`)
    return 2
  }
  const parsed = parseScenario(input)
  if (!parsed.ok) {
    io.stderr.write(`infra-lab sim: ${file} is not a valid scenario:\n${parsed.errors.map((e) => `  ${e}\n`).join('')}`)
    return 2
  }
  let trace: Trace | undefined
  try {
    trace = await loadTraceFor(parsed.scenario, dirname(path))
  } catch (err) {
    io.stderr.write(`infra-lab sim: ${err instanceof Error ? err.message : String(err)}\n`)
    return 2
  }
  if (flags.sweep && flags.sweep.length > 0) return sweep(input, flags, io, trace, signal)

  const r = simulate(parsed.scenario, trace ? { trace } : {})
  if (flags.json) io.stdout.write(`${JSON.stringify(resultJson(r, flags.series))}\n`)
  else io.stdout.write(resultTable(r))
  if (flags.report) {
    await writeFile(resolve(io.cwd, flags.report), await resultHtml(r, parsed.scenario.name ?? file))
    if (!flags.json) io.stdout.write(`report: ${flags.report}\n`)
  }
  return 0
}

/** `infra-lab sim --trace T --speed S --starts-from REPLAY.json`: predicts what the replay measured. */
async function predictReplay(file: string | undefined, flags: SimFlags, io: CliIo): Promise<ExitCode> {
  const fail = (m: string): ExitCode => { io.stderr.write(`infra-lab sim: ${m}\n`); return 2 }
  if (!flags.startsFrom && flags.createDraws) return fail('--create-draws goes with --starts-from (see --help)')
  if (file) return fail('give a scenario file or --starts-from, not both (the replay gives the pool, the trace the arrivals)')
  if (!flags.startsFrom || !flags.trace) return fail('--starts-from REPLAY.json and --trace TRACE go together (see --help)')
  if (flags.sweep?.length) return fail('--sweep does not combine with --starts-from')
  let r
  try {
    const replay = await readReplayFile(resolve(io.cwd, flags.startsFrom))
    const trace = await readTraceFile(resolve(io.cwd, flags.trace), Date.parse(replay.replay.startedAt))
    r = startsFromScenario(replay, trace, { speed: flags.speed ?? replay.replay.speed, seed: flags.seed ?? 1, ...(flags.createDraws ? { createDraws: flags.createDraws } : {}) })
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err))
  }
  const result = simulate(r.scenario, { trace: r.trace })
  if (flags.json) io.stdout.write(`${JSON.stringify(resultJson(result, flags.series))}\n`)
  else io.stdout.write(resultTable(result))
  if (flags.report) await writeFile(resolve(io.cwd, flags.report), await resultHtml(result, r.scenario.name ?? 'prediction'))
  return 0
}

export async function loadTraceFor(sc: { arrivals: { kind: string; file?: string }; sessionS: { kind: string }; startAt: string }, baseDir: string): Promise<Trace | undefined> {
  if (sc.arrivals.kind !== 'trace' || !sc.arrivals.file) return undefined
  const file = resolve(baseDir, sc.arrivals.file)
  const trace = await readTraceFile(file, Date.parse(sc.startAt))
  // Without the column every session would last 0 s.
  if (sc.sessionS.kind === 'trace' && !trace.durationS) throw new Error(`${file}: sessionS "trace" needs a durationS column in the trace`)
  return trace
}

async function sweep(input: unknown, flags: SimFlags, io: CliIo, trace: Trace | undefined, signal?: AbortSignal): Promise<ExitCode> {
  let axes
  try {
    axes = flags.sweep!.map(parseAxis)
  } catch (err) {
    io.stderr.write(`infra-lab sim: ${(err as Error).message}\n`)
    return 2
  }
  const jobs = grid(axes).map((params) => ({ params, input: Object.entries(params).reduce((acc, [p, v]) => setPath(acc, p, v), input) }))
  const { default: progress } = await import('cli-progress')
  const bar = new progress.SingleBar({ stream: io.stderr as NodeJS.WriteStream, format: 'sweep [{bar}] {value}/{total} points | {duration}s' }, progress.Presets.shades_classic)
  bar.start(jobs.length, 0)
  const t0 = performance.now()
  const bundled = /\.mjs$/.test(process.argv[1] ?? '')
  const points = await runJobs(jobs, {
    workers: bundled ? (flags.workers ?? defaultWorkers()) : 0,
    ...(bundled ? { workerScript: process.argv[1]! } : {}),
    ...(trace ? { trace } : {}),
    onProgress: (n) => { bar.update(n); if (signal?.aborted) throw new Error('aborted') },
  })
  bar.stop()
  const wallS = (performance.now() - t0) / 1000
  const frontier = paretoFrontier(points)
  const target = flags.targetP99S
  const best = target === undefined ? undefined : recommend(points, target)
  const errors = points.filter((p) => p.error)
  if (flags.json) {
    const slim = (p: SweepPoint) => ({ params: p.params, ...(p.error ? { error: p.error } : { result: resultJson(p.result!) }) })
    io.stdout.write(`${JSON.stringify({ points: points.map(slim), frontier: frontier.map((p) => p.params), targetP99S: target ?? null, recommendation: best ? best.params : null, perf: { wallS, points: points.length } })}\n`)
    return errors.length === points.length ? 1 : 0
  }
  for (const e of errors) io.stdout.write(`invalid point ${paramsLabel(e.params)}: ${e.error}\n`)
  io.stdout.write(`${points.length} points in ${wallS.toFixed(1)} s. Pareto frontier (cost vs p99 wait):\n`)
  io.stdout.write(`${'cost $'.padStart(12)}  ${'p99 wait s'.padStart(10)}  ${'warm hit'.padStart(8)}  parameters\n`)
  for (const p of frontier) {
    const r = p.result!
    io.stdout.write(`${r.cost.total.toFixed(2).padStart(12)}  ${r.wait.p99S.toFixed(3).padStart(10)}  ${(r.warmHitRate * 100).toFixed(2).padStart(7)}%  ${paramsLabel(p.params)}\n`)
  }
  if (target !== undefined) {
    io.stdout.write(best
      ? `recommended (cheapest with p99 <= ${target} s): ${paramsLabel(best.params)}: $${best.result!.cost.total.toFixed(2)}, p99 ${best.result!.wait.p99S.toFixed(3)} s\n`
      : `no point meets p99 <= ${target} s\n`)
  }
  return 0
}
