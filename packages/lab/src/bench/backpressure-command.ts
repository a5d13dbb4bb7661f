import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import type { CliIo, ExitCode } from '../io.ts'
import { findRepoRoot } from '../paths.ts'
import { runBackpressureBench, type BackpressureOptions, type BackpressureRun } from './backpressure.ts'
import { buildReport, renderBackpressureMarkdown, type BackpressureReport } from './backpressure-report.ts'
import { realProbeEnv, startupDriverUnavailable, type ProbeEnv } from './driver-probe.ts'
import { startGatewayProcess, type GatewayProcess } from './gateway-process.ts'
import { machineInfo } from './machine.ts'
import { writeResult } from './report.ts'

export interface BenchBackpressureFlags extends BackpressureOptions {
  readonly out: string
  /** A line for the results about the conditions (e.g. other work on a shared machine). */
  readonly note?: string
  readonly json?: boolean
}

export interface BackpressureOutcome {
  readonly code: ExitCode
  readonly report?: BackpressureReport
  readonly skipped?: string
  readonly files?: readonly string[]
}

/** `infra-lab bench backpressure`: gateway memory and another session's latency under one slow viewer of a flood. */
export async function benchBackpressureCommand(flags: BenchBackpressureFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  return (await runBenchBackpressure(flags, io, signal)).code
}

export async function runBenchBackpressure(flags: BenchBackpressureFlags, io: CliIo, signal: AbortSignal, probe: ProbeEnv = realProbeEnv(io.env)): Promise<BackpressureOutcome> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const why = await startupDriverUnavailable('local', probe)
  if (why) {
    log(`infra-lab bench backpressure: skipped: ${why}`)
    return { code: 0, skipped: why }
  }
  const command = [
    'npx infra-lab bench backpressure', `--flood-mib ${flags.floodMiB}`, `--rounds ${flags.rounds}`,
    `--baseline-samples ${flags.baselineSamples}`, `--gap-ms ${flags.gapMs}`, `--out ${flags.out}`,
    ...(flags.note ? [`--note ${JSON.stringify(flags.note)}`] : []),
  ].join(' ')
  const loadAtStart = loadavg()[0]!
  log(`infra-lab bench backpressure: ${flags.rounds} round(s) of ${flags.baselineSamples} echo round trips with no flood, then a ${flags.floodMiB} MiB flood with one slow viewer; starting a gateway (local driver) …`)
  let gw: GatewayProcess | undefined
  let run: BackpressureRun
  try {
    gw = await startGatewayProcess({
      cliPath: join(findRepoRoot(), 'packages/lab/dist/cli.mjs'),
      config: { driver: 'local', pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 4 }] },
    })
    run = await runBackpressureBench({ url: gw.url, apiKey: gw.apiKey, pid: gw.pid, workspacesDir: join(gw.dataDir, 'workspaces') }, flags, log, signal)
  } catch (err) {
    log(`infra-lab bench backpressure: ${(err as Error).message}`)
    return { code: signal.aborted ? 130 : 1 }
  } finally {
    await gw?.stop()
  }
  const report = buildReport(run, {
    machine: machineInfo(), date: new Date().toISOString(), command,
    options: { floodMiB: flags.floodMiB, rounds: flags.rounds, baselineSamples: flags.baselineSamples, gapMs: flags.gapMs },
    load: { cores: machineInfo().cores, atStart: round2(loadAtStart), atEnd: round2(loadavg()[0]!) },
    ...(flags.note ? { note: flags.note } : {}),
  })
  const md = renderBackpressureMarkdown(report)
  const files = Object.values(writeResult(resolve(io.cwd, flags.out), 'backpressure-local', md, report))
  if (flags.json) io.stdout.write(`${JSON.stringify(report)}\n`)
  else io.stdout.write(`${md}\nwritten: ${files.join(', ')}\n`)
  return { code: run.partial && signal.aborted ? 130 : 0, report, files }
}

const round2 = (v: number) => Math.round(v * 100) / 100
