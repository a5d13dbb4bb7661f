import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { pino } from 'pino'
import { LabClient } from '../client/client.ts'
import { DockerDriver } from '../drivers/docker/docker-driver.ts'
import { LocalDriver } from '../drivers/local/local-driver.ts'
import type { SandboxDriver } from '../drivers/types.ts'
import type { CliIo, ExitCode } from '../io.ts'
import { agentBundleDir, findRepoRoot } from '../paths.ts'
import { realProbeEnv, startupDriverUnavailable, type ProbeEnv } from './driver-probe.ts'
import { startGatewayProcess, type GatewayProcess } from './gateway-process.ts'
import { runLoad, type LoadOptions } from './load.ts'
import { buildLoadReport, renderLoadMarkdown, type LoadReport } from './load-report.ts'
import { machineInfo } from './machine.ts'
import { writeResult } from './report.ts'
import { parseDrivers } from './startup-plan.ts'

export interface BenchLoadFlags {
  /** One driver or several, comma-separated (`local,docker`). */
  readonly driver: string
  readonly sessions: number
  readonly durationS?: number
  readonly concurrency: number
  readonly poolSize: number
  /** Default: pool size + concurrency, so refills and cold starts both have room. */
  readonly maxSize?: number
  readonly warmup?: number
  readonly stepTimeoutMs: number
  readonly out: string
  readonly note?: string
  readonly json?: boolean
}

export interface LoadOutcome {
  readonly code: ExitCode
  readonly reports: readonly LoadReport[]
  readonly skipped: readonly { driver: string; reason: string }[]
  readonly files: readonly string[]
}

const POOL = 'default'
const SAMPLE_EVERY_MS = 250

/** `infra-lab bench load`: concurrent users end to end; outcomes, latency per step, gateway RSS and descriptors, pool vs host. */
export async function benchLoadCommand(flags: BenchLoadFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  return (await runBenchLoad(flags, io, signal)).code
}

export async function runBenchLoad(flags: BenchLoadFlags, io: CliIo, signal: AbortSignal, probe: ProbeEnv = realProbeEnv(io.env)): Promise<LoadOutcome> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const maxSize = flags.maxSize ?? flags.poolSize + flags.concurrency
  const warmup = flags.warmup ?? Math.min(2 * flags.concurrency, Math.max(0, flags.sessions - 1))
  const opts: Omit<LoadOptions, 'pool'> = {
    sessions: flags.sessions, concurrency: flags.concurrency, warmup, stepTimeoutMs: flags.stepTimeoutMs, poolSize: flags.poolSize,
    sampleEveryMs: SAMPLE_EVERY_MS, ...(flags.durationS !== undefined ? { durationS: flags.durationS } : {}),
  }
  const reports: LoadReport[] = []
  const skipped: { driver: string; reason: string }[] = []
  const files: string[] = []
  let code: ExitCode = 0
  for (const driver of parseDrivers(flags.driver)) {
    if (signal.aborted) break
    const why = await startupDriverUnavailable(driver, probe)
    if (why) {
      log(`infra-lab bench load --driver ${driver}: skipped: ${why}`)
      skipped.push({ driver, reason: why })
      continue
    }
    const command = commandLine(flags, driver, maxSize, warmup)
    const atStart = loadavg()[0]!
    log(`infra-lab bench load --driver ${driver}: ${flags.durationS !== undefined ? `${flags.durationS} s` : `${flags.sessions} sessions`} from ${flags.concurrency} clients; pool ${flags.poolSize}, maxSize ${maxSize}; starting a gateway …`)
    let gw: GatewayProcess | undefined
    let host: SandboxDriver | undefined
    try {
      gw = await startGatewayProcess({
        cliPath: join(findRepoRoot(), 'packages/lab/dist/cli.mjs'),
        config: { driver, pools: [{ name: POOL, driver, policy: { kind: 'fixed', size: flags.poolSize }, maxSize }] },
      })
      host = hostDriver(driver, gw.dataDir)
      await host.init()
      const lister = host
      const run = await runLoad({ client: new LabClient(gw.url, gw.apiKey), pid: gw.pid, hostCount: async () => (await lister.list()).filter((h) => h.pool === POOL).length }, { ...opts, pool: POOL }, log, signal)
      const report = buildLoadReport(run, {
        driver, machine: machineInfo(), date: new Date().toISOString(), command, options: { ...opts, maxSize },
        load: { cores: machineInfo().cores, atStart: round2(atStart), atEnd: round2(loadavg()[0]!) }, ...(flags.note ? { note: flags.note } : {}),
      })
      reports.push(report)
      const md = renderLoadMarkdown(report)
      files.push(...Object.values(writeResult(resolve(io.cwd, flags.out), `load-${driver}`, md, report)))
      if (flags.json) io.stdout.write(`${JSON.stringify(report)}\n`)
      else io.stdout.write(`${md}\n`)
    } catch (err) {
      log(`infra-lab bench load --driver ${driver}: ${(err as Error).message}`)
      code = 1
    } finally {
      await gw?.stop()
    }
  }
  if (!flags.json && files.length) io.stdout.write(`written: ${files.join(', ')}\n`)
  return { code: signal.aborted ? 130 : code, reports, skipped, files }
}

/**
 * The gateway's driver as a second instance on the same data dir, for its list() only: what
 * runs on the host, seen the way a restarted gateway would see it.
 */
function hostDriver(driver: string, dataDir: string): SandboxDriver {
  const o = { dataDir, workspacesDir: join(dataDir, 'workspaces'), logger: pino({ level: 'warn' }) }
  if (driver === 'local') return new LocalDriver({ ...o, agentBundleDir: agentBundleDir() })
  if (driver === 'docker') return new DockerDriver(o)
  throw new Error(`bench load has no host view for driver ${driver}`)
}

function commandLine(f: BenchLoadFlags, driver: string, maxSize: number, warmup: number): string {
  const size = f.durationS !== undefined ? `--duration-s ${f.durationS}` : `--sessions ${f.sessions}`
  return [
    `npx infra-lab bench load --driver ${driver} ${size} --concurrency ${f.concurrency} --pool-size ${f.poolSize} --max-size ${maxSize}`,
    `--warmup ${warmup} --step-timeout-ms ${f.stepTimeoutMs} --out ${f.out}`, ...(f.note ? [`--note ${JSON.stringify(f.note)}`] : []),
  ].join(' ')
}

const round2 = (v: number) => Math.round(v * 100) / 100
