import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { LabClient } from '../client/client.ts'
import type { CliIo, ExitCode } from '../io.ts'
import { DEFAULT_SANDBOX_IMAGE } from '../drivers/docker/options.ts'
import { dockerRunSeries } from './docker-run.ts'
import { findRepoRoot } from '../paths.ts'
import { barChartSvg, percentileChartSvg } from './charts.ts'
import { realProbeEnv, startupDriverUnavailable, type ProbeEnv } from './driver-probe.ts'
import { startFloorProcess, type FloorProcess } from './floor-server.ts'
import { startGatewayProcess, type GatewayProcess } from './gateway-process.ts'
import { machineInfo } from './machine.ts'
import { measureMemory, type MemoryResult } from './memory.ts'
import { writeResult, writeSvg } from './report.ts'
import { parseDrivers, parseLevels, startupPools } from './startup-plan.ts'
import { drainedResult, renderStartupMarkdown, seriesResult, type DrainedResult, type SeriesResult, type SkippedDriver, type StartupReport, type SweepResult } from './startup-report.ts'
import { coldSeries, drainedSeries, parallelSeries, warmSeries, type SeriesContext } from './startup-series.ts'

export interface BenchStartupFlags {
  readonly sessions: number
  readonly concurrency: number
  readonly url?: string
  readonly key?: string
  /** One driver or several, comma-separated (`local,docker`). */
  readonly driver: string
  readonly out: string
  readonly memorySandboxes: number
  /** Concurrency levels, comma-separated; `none` skips the sweep. */
  readonly sweep?: string
  /** Samples per sweep level (at least two rounds each). */
  readonly sweepSamples?: number
  /** Samples of the burst run (rounds of `concurrency`); default 60. */
  readonly burstSamples?: number
  /** Pool size N of the drained run (N + 1 users at once); 0 skips it. */
  readonly drainedPool?: number
  readonly drainedRounds?: number
  readonly json?: boolean
}

export interface StartupOutcome {
  readonly code: ExitCode
  readonly skipped: readonly SkippedDriver[]
  readonly files: readonly string[]
}

/**
 * Warm-up claims of the warm series: one per user it cycles through (bench-0..15), so a user's
 * first session ever (which makes and mounts their workspace image) is not counted as a warm start.
 */
const WARMUP = 16
const COLD_WARMUP = 1

/** `infra-lab bench startup`: warm, burst, sweep, drained and cold session starts, end to end. */
export async function benchStartupCommand(flags: BenchStartupFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  return (await runBenchStartup(flags, io, signal)).code
}

export async function runBenchStartup(flags: BenchStartupFlags, io: CliIo, signal: AbortSignal, probe: ProbeEnv = realProbeEnv(io.env)): Promise<StartupOutcome> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const sweepText = flags.sweep ?? '1,4,16,64'
  const sweep = sweepText === 'none' ? [] : parseLevels(sweepText)
  if (typeof sweep === 'string') {
    log(`infra-lab bench startup: ${sweep}`)
    return { code: 2, skipped: [], files: [] }
  }
  const opts = { ...flags, sweep, sweepSamples: flags.sweepSamples ?? 64, drainedPool: flags.drainedPool ?? 64, drainedRounds: flags.drainedRounds ?? 3 }
  const command = commandLine(flags, sweepText, opts)
  const skipped: SkippedDriver[] = []
  const reports: StartupReport[] = []
  let code: ExitCode = 0
  if (flags.url) {
    const key = flags.key ?? io.env.INFRA_LAB_API_KEY
    if (!key) {
      log('infra-lab bench startup: --url needs --key or INFRA_LAB_API_KEY')
      return { code: 2, skipped, files: [] }
    }
    try {
      reports.push(await measureRemote({ client: new LabClient(flags.url, key), signal, log }, opts, command))
    } catch (err) {
      log(`infra-lab bench startup: ${(err as Error).message}`)
      return { code: 1, skipped, files: [] }
    }
  } else {
    for (const driver of parseDrivers(flags.driver)) {
      if (signal.aborted) break
      const why = await startupDriverUnavailable(driver, probe)
      if (why) {
        log(`infra-lab bench startup --driver ${driver}: skipped: ${why}`)
        skipped.push({ driver, outcome: 'skipped', reason: why })
        continue
      }
      try {
        reports.push(await measureDriver(driver, opts, command, signal, log))
      } catch (err) {
        log(`infra-lab bench startup --driver ${driver}: ${(err as Error).message}`)
        skipped.push({ driver, outcome: 'failed', reason: (err as Error).message.split('\n')[0]! })
        code = 1
      }
    }
  }
  const files: string[] = []
  const outDir = resolve(io.cwd, flags.out)
  for (const r of reports) {
    const report = { ...r, skipped: skipped.filter((s) => s.driver !== r.driver) }
    const md = renderStartupMarkdown(report)
    files.push(...Object.values(writeResult(outDir, `startup-${r.driver}`, md, report)))
    files.push(...await writeCharts(outDir, report))
    if (flags.json) io.stdout.write(`${JSON.stringify(report)}\n`)
    else io.stdout.write(`${md}\n`)
  }
  if (!flags.json && files.length) io.stdout.write(`written: ${files.join(', ')}\n`)
  return { code: signal.aborted ? 130 : code, skipped, files }
}

type Opts = Omit<BenchStartupFlags, 'sweep'> & { sweep: number[]; sweepSamples: number; drainedPool: number; drainedRounds: number }

async function measureDriver(driver: string, o: Opts, command: string, signal: AbortSignal, log: (s: string) => void): Promise<StartupReport> {
  const loadAtStart = loadavg()[0]!
  const plan = startupPools({ concurrency: o.concurrency, sweep: o.sweep, drainedPool: o.drainedPool })
  log(`starting a gateway (driver ${driver}; pools ${plan.pools.map((p) => `${p.name} ${p.policy.size}`).join(', ')}) …`)
  const results: SeriesResult[] = []
  const sweep: SweepResult[] = []
  let drained: DrainedResult | undefined
  let gw: GatewayProcess | undefined
  let floor: FloorProcess | undefined
  try {
    const dist = join(findRepoRoot(), 'packages/lab/dist')
    gw = await startGatewayProcess({ cliPath: join(dist, 'cli.mjs'), config: { driver, pools: plan.pools.map((p) => ({ ...p, driver })) } })
    floor = await startFloorProcess(join(dist, 'floor-server.mjs'))
    const ctx: SeriesContext = { client: new LabClient(gw.url, gw.apiKey), floor: new LabClient(floor.url, 'floor'), signal, log }
    results.push(seriesResult(await warmSeries(ctx, { pool: 'default', size: plan.defaultSize, sessions: o.sessions, warmup: WARMUP })))
    if (!signal.aborted) {
      results.push(seriesResult(await parallelSeries(ctx, { name: `burst x${o.concurrency}`, pool: 'default', size: plan.defaultSize, concurrency: o.concurrency, samples: o.burstSamples ?? 60 })))
    }
    const sweepSize = Math.max(0, ...o.sweep)
    for (const c of o.sweep) {
      if (signal.aborted || !plan.sweepPool) break
      const s = await parallelSeries(ctx, { name: `sweep C=${c}`, pool: plan.sweepPool, size: sweepSize, concurrency: c, samples: o.sweepSamples })
      sweep.push({ ...seriesResult(s), concurrency: c })
    }
    if (plan.drainedPool && !signal.aborted) {
      drained = drainedResult(await drainedSeries(ctx, { pool: plan.drainedPool, size: o.drainedPool, rounds: o.drainedRounds }))
    }
    if (!signal.aborted) {
      results.push(seriesResult(await coldSeries(ctx, { pool: 'cold', sessions: Math.min(o.sessions, 30), warmup: COLD_WARMUP })))
    }
    if (driver === 'docker' && !signal.aborted) {
      results.push(seriesResult(await dockerRunSeries(DEFAULT_SANDBOX_IMAGE, 20, 2, signal)))
      log('  docker run reference: 20')
    }
  } finally {
    await floor?.stop()
    await gw?.stop()
  }
  let memory: MemoryResult | undefined
  if (driver === 'local' && o.memorySandboxes > 0 && !signal.aborted) {
    log(`measuring memory over ${o.memorySandboxes} warm sandboxes …`)
    memory = await measureMemory(o.memorySandboxes, (k) => {
      if (k % 8 === 0) log(`  memory: ${k}/${o.memorySandboxes}`)
    })
  }
  const load = { cores: machineInfo().cores, atStart: round2(loadAtStart), atEnd: round2(loadavg()[0]!) }
  return { ...report(driver, signal.aborted, command, results, sweep, drained, memory), load }
}

const round2 = (v: number) => Math.round(v * 100) / 100

/** `--url`: a running gateway whose pool sizes are its own; only the warm run applies. */
async function measureRemote(ctx: SeriesContext, o: Opts, command: string): Promise<StartupReport> {
  const size = (await ctx.client.pool('default')).status.target
  const warm = seriesResult(await warmSeries(ctx, { pool: 'default', size, sessions: o.sessions, warmup: WARMUP }))
  return report('remote', ctx.signal.aborted, command, [warm], [], undefined, undefined)
}

function report(driver: string, partial: boolean, command: string, results: SeriesResult[], sweep: SweepResult[], drained: DrainedResult | undefined, memory: MemoryResult | undefined): StartupReport {
  return { benchmark: 'startup', driver, partial, machine: machineInfo(), date: new Date().toISOString(), command, skipped: [], results, sweep, ...(drained ? { drained } : {}), ...(memory ? { memory } : {}) }
}

async function writeCharts(dir: string, r: StartupReport): Promise<string[]> {
  const rows = [...r.results, ...(r.drained ? [{ ...r.drained.beyond, name: `user ${r.drained.poolSize + 1} (drained)` }] : [])]
  const bars = rows.flatMap((x) => (['p50', 'p99'] as const).map((p) => ({ group: x.name, series: p, value: x.totalMs[p] })))
  const files = [writeSvg(dir, `startup-${r.driver}`, await barChartSvg(`session start (${r.driver}): warm vs cold`, 'ms to first prompt byte (log)', bars, { logScale: true }))]
  if (r.sweep.length) {
    const curves = r.sweep.map((s) => ({ name: `C=${s.concurrency} (n=${s.totalMs.n})`, curve: s.totalMs.curve }))
    files.push(writeSvg(dir, `startup-${r.driver}-sweep`, await percentileChartSvg(`session start (${r.driver}): latency by concurrency`, 'ms to first prompt byte (log)', curves)))
  }
  return files
}

function commandLine(f: BenchStartupFlags, sweep: string, o: Opts): string {
  if (f.url) return `npx infra-lab bench startup --url ${f.url} --sessions ${f.sessions}`
  return `npx infra-lab bench startup --driver ${f.driver} --sessions ${f.sessions} --concurrency ${f.concurrency} --sweep ${sweep} --sweep-samples ${o.sweepSamples} --drained-pool ${o.drainedPool} --drained-rounds ${o.drainedRounds} --memory-sandboxes ${f.memorySandboxes} --out ${f.out}`
}
