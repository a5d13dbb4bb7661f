import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { LabClient } from '../client/client.ts'
import type { CliIo, ExitCode } from '../io.ts'
import { findRepoRoot } from '../paths.ts'
import { barChartSvg } from './charts.ts'
import { realProbeEnv, startupDriverUnavailable, type ProbeEnv } from './driver-probe.ts'
import { answerJson, BenchHttp } from './exec-http.ts'
import { runLatency, type LatencyRun } from './exec-latency.ts'
import { findAgentPid } from './exec-processes.ts'
import { buildExecReport, renderExecMarkdown, type ExecReport } from './exec-report.ts'
import { probeHost, probeSandbox, type SpawnProbe } from './exec-spawn-probe.ts'
import { streamExec, uploadFile, type TransferResult } from './exec-throughput.ts'
import { startFloorProcess, type FloorProcess } from './floor-server.ts'
import { startGatewayProcess, type GatewayProcess } from './gateway-process.ts'
import { machineInfo } from './machine.ts'
import { writeResult, writeSvg } from './report.ts'
import { waitForReady } from './startup.ts'

export interface BenchExecFlags {
  readonly iterations?: number
  readonly warmup?: number
  /** Small sizes everywhere: a check that the benchmark runs, not a measurement to publish. */
  readonly quick?: boolean
  readonly streamMib?: number
  readonly uploadMib?: number
  readonly poolSize?: number
  readonly out: string
  readonly note?: string
  readonly json?: boolean
}

export interface ExecOutcome {
  readonly code: ExitCode
  readonly report?: ExecReport
  readonly skipped?: string
  readonly files?: readonly string[]
}

const FULL = { iterations: 200, warmup: 10, streamMib: 200, uploadMib: 1024, poolSize: 3 }
const QUICK = { iterations: 5, warmup: 2, streamMib: 8, uploadMib: 16, poolSize: 2 }
const MiB = 2 ** 20
const POOL = 'default'
const CLIENT = 'node:http with a keep-alive Agent (one reused connection per target, no fetch/undici layer), JSON bodies; '
  + 'the first requests of a run (and so the connection set-up) fall in the warm-up'

/** `infra-lab bench exec`: first command after create, exec round trip and bulk transfers, against the host and the transport floor. */
export async function benchExecCommand(flags: BenchExecFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  return (await runBenchExec(flags, io, signal)).code
}

export async function runBenchExec(flags: BenchExecFlags, io: CliIo, signal: AbortSignal, probe: ProbeEnv = realProbeEnv(io.env)): Promise<ExecOutcome> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const why = await startupDriverUnavailable('local', probe)
  if (why) {
    log(`infra-lab bench exec: skipped: ${why}`)
    return { code: 0, skipped: why }
  }
  const base = flags.quick ? QUICK : FULL
  const o = {
    iterations: flags.iterations ?? base.iterations, warmup: flags.warmup ?? base.warmup,
    streamMib: flags.streamMib ?? base.streamMib, uploadMib: flags.uploadMib ?? base.uploadMib, poolSize: flags.poolSize ?? base.poolSize,
  }
  const command = [
    'npx infra-lab bench exec', `--iterations ${o.iterations}`, `--warmup ${o.warmup}`, `--stream-mib ${o.streamMib}`,
    `--upload-mib ${o.uploadMib}`, `--pool-size ${o.poolSize}`, `--out ${flags.out}`, ...(flags.note ? [`--note ${JSON.stringify(flags.note)}`] : []),
  ].join(' ')
  const loadAtStart = loadavg()[0]!
  log(`infra-lab bench exec: ${o.iterations} rounds (+${o.warmup} warm-up) of 5 interleaved series, then a ${o.streamMib} MiB streamed exec and a ${o.uploadMib} MiB upload; starting a gateway (local driver, pool of ${o.poolSize}) …`)
  let gw: GatewayProcess | undefined
  let floor: FloorProcess | undefined
  let latency: LatencyRun | undefined
  const transfers: TransferResult[] = []
  const probes: SpawnProbe[] = []
  try {
    const dist = join(findRepoRoot(), 'packages/lab/dist')
    gw = await startGatewayProcess({
      cliPath: join(dist, 'cli.mjs'),
      config: {
        driver: 'local',
        // The upload lands in the user's workspace: room for it beside the file system's own blocks.
        workspaceQuotaBytes: Math.max(2 ** 30, o.uploadMib * MiB + 256 * MiB),
        maxUploadBytes: Math.max(2 ** 30, o.uploadMib * MiB),
        pools: [{ name: POOL, policy: { kind: 'fixed', size: o.poolSize }, maxSize: o.poolSize + 3, maxConcurrentCreates: 2 }],
      },
    })
    floor = await startFloorProcess(join(dist, 'floor-server.mjs'))
    latency = await measure(gw, floor, o, signal, log, { transfers, probes })
  } catch (err) {
    log(`infra-lab bench exec: ${(err as Error).message}`)
    return { code: signal.aborted ? 130 : 1 }
  } finally {
    await floor?.stop()
    await gw?.stop()
  }
  const report = buildExecReport(latency, { transfers, probes }, signal.aborted, {
    machine: machineInfo(), date: new Date().toISOString(), command, client: CLIENT,
    load: { cores: machineInfo().cores, atStart: round2(loadAtStart), atEnd: round2(loadavg()[0]!) },
    ...(flags.note ? { note: flags.note } : {}),
  })
  const outDir = resolve(io.cwd, flags.out)
  const md = renderExecMarkdown(report)
  const files = [...Object.values(writeResult(outDir, 'exec', md, report)), writeSvg(outDir, 'exec', await latencyChart(report))]
  if (flags.json) io.stdout.write(`${JSON.stringify(report)}\n`)
  else io.stdout.write(`${md}\nwritten: ${files.join(', ')}\n`)
  return { code: signal.aborted ? 130 : 0, report, files }
}

async function measure(gw: GatewayProcess, floor: FloorProcess, o: typeof FULL, signal: AbortSignal, log: (s: string) => void, out: { transfers: TransferResult[]; probes: SpawnProbe[] }): Promise<LatencyRun> {
  const { transfers, probes } = out
  const gateway = new BenchHttp(gw.url, gw.apiKey)
  const floorHttp = new BenchHttp(floor.url, 'floor')
  const lab = new LabClient(gw.url, gw.apiKey)
  const sessions: string[] = []
  const open = async (user: string) => {
    await waitForReady(lab, POOL, o.poolSize)
    const s = answerJson<{ id: string }>(await gateway.json('POST', '/v1/sessions', { user, pool: POOL }), 201, 'POST /v1/sessions')
    sessions.push(s.id)
    return s.id
  }
  try {
    const roundTrip = await open('bench-exec-rt')
    const run = await runLatency({ gateway, lab, pool: POOL, poolSize: o.poolSize, floor: floorHttp }, roundTrip, o, signal, log)
    if (signal.aborted) return run
    const io = await open('bench-exec-io')
    const agent = await findAgentPid(gateway, io)
    log(`  agent of sandbox ${agent.sandboxId} is pid ${agent.pid}; gateway pid ${gw.pid}`)
    probes.push(await probeSandbox(gateway, io, agent.agentDir, o.iterations), await probeHost(o.iterations))
    log(`  spawn probes: ${probes.map((p) => `${p.where}: true ${p.trueMs.p50.toFixed(2)} ms, helper ${p.helperMs.p50.toFixed(2)} ms`).join('; ')} (p50)`)
    const target = { client: gateway, sessionId: io, gatewayPid: gw.pid, agentPid: agent.pid }
    transfers.push(await streamExec(target, o.streamMib))
    log(`  stream: ${o.streamMib} MiB at ${transfers[0]!.mibPerS.toFixed(0)} MiB/s`)
    if (!signal.aborted) {
      transfers.push(await uploadFile(target, o.uploadMib, 'bench-upload.bin'))
      log(`  upload: ${o.uploadMib} MiB at ${transfers[1]!.mibPerS.toFixed(0)} MiB/s`)
    }
    return run
  } finally {
    for (const id of sessions) await gateway.json('DELETE', `/v1/sessions/${id}`).catch(() => undefined)
    gateway.close()
    floorHttp.close()
  }
}

function latencyChart(r: ExecReport): Promise<string> {
  const bars = r.latency.flatMap((x) => (['p50', 'p95', 'p99'] as const).map((p) => ({ group: x.name, series: p, value: x.ms[p] })))
  return barChartSvg('bench exec (local): latency against the host and the transport floor', 'ms (log)', bars, { logScale: true })
}

const round2 = (v: number) => Math.round(v * 100) / 100
