import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { LabClient } from '../client/client.ts'
import type { CliIo, ExitCode } from '../io.ts'
import { findRepoRoot } from '../paths.ts'
import { barChartSvg } from './charts.ts'
import { realProbeEnv, startupDriverUnavailable, type ProbeEnv } from './driver-probe.ts'
import { EGRESS_POOL, START_POLICIES, measureEgressStarts, type StartPolicy, type StartSeries } from './egress-start.ts'
import { TRANSFER_PATHS, TRANSFER_PATH_TEXT, measureEgressThroughput, type ThroughputRun, type TransferPath } from './egress-throughput.ts'
import { startGatewayProcess, type GatewayProcess } from './gateway-process.ts'
import { machineInfo, machineLine, type MachineInfo } from './machine.ts'
import { bootstrapRatioCi, median, quantile } from './ratio-ci.ts'
import { writeResult, writeSvg } from './report.ts'

export interface BenchEgressFlags {
  readonly rounds?: number
  readonly warmup?: number
  readonly poolSize?: number
  readonly mib?: number
  readonly repeats?: number
  readonly quick?: boolean
  readonly out: string
  readonly note?: string
  readonly json?: boolean
}

const FULL = { rounds: 100, warmup: 5, poolSize: 4, mib: 200, repeats: 5 }
const QUICK = { rounds: 4, warmup: 1, poolSize: 2, mib: 8, repeats: 1 }

export interface StartSummary {
  readonly n: number
  readonly totalP50Ms: number
  readonly totalP95Ms: number
  readonly claimP50Ms: number
}

export interface EgressReport {
  readonly benchmark: 'egress'
  readonly driver: 'local'
  readonly machine: MachineInfo
  readonly date: string
  readonly command: string
  readonly note?: string
  readonly load: { readonly atStart: number; readonly atEnd: number }
  readonly starts: Record<StartPolicy, StartSummary> & {
    /** allow's median over none's (POST to first byte). */
    readonly ratio: number
    /** 95 % bootstrap interval of that ratio. */
    readonly ratioCi: readonly [number, number]
    /** The same ratio between the two halves of `none` (odd and even rounds): what noise alone gives. */
    readonly noneSplitRatio: number
    readonly withinNoise: boolean
    readonly cold: number
  }
  readonly transfers: {
    readonly mib: number
    readonly repeats: number
    readonly medianMibPerS: Record<TransferPath, number>
    /** connect-http over direct-http: the goal is >= 0.5. */
    readonly connectRatio: number
    readonly connectTlsRatio: number
    readonly injectedRatio: number
    readonly congestion?: ThroughputRun['congestion']
  }
}

export interface EgressOutcome {
  readonly code: ExitCode
  readonly report?: EgressReport
  readonly skipped?: string
  readonly files?: readonly string[]
}

/** `infra-lab bench egress`: warm starts with an allow-list against none, and the proxy's throughput against direct loopback transfers. */
export async function benchEgressCommand(flags: BenchEgressFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  return (await runBenchEgress(flags, io, signal)).code
}

export async function runBenchEgress(flags: BenchEgressFlags, io: CliIo, signal: AbortSignal, probe: ProbeEnv = realProbeEnv(io.env)): Promise<EgressOutcome> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const why = await startupDriverUnavailable('local', probe)
  if (why) {
    log(`infra-lab bench egress: skipped: ${why}`)
    return { code: 0, skipped: why }
  }
  const base = flags.quick ? QUICK : FULL
  const o = {
    rounds: flags.rounds ?? base.rounds, warmup: flags.warmup ?? base.warmup, poolSize: flags.poolSize ?? base.poolSize,
    mib: flags.mib ?? base.mib, repeats: flags.repeats ?? base.repeats,
  }
  const command = [
    'npx infra-lab bench egress', `--rounds ${o.rounds}`, `--warmup ${o.warmup}`, `--pool-size ${o.poolSize}`, `--mib ${o.mib}`,
    `--repeats ${o.repeats}`, `--out ${flags.out}`, ...(flags.note ? [`--note ${JSON.stringify(flags.note)}`] : []),
  ].join(' ')
  const atStart = loadavg()[0]!
  log(`infra-lab bench egress: ${o.rounds} rounds (+${o.warmup} warm-up) of warm starts, none and allow interleaved, on a network pool of ${o.poolSize}; then ${o.repeats} x 5 transfers of ${o.mib} MiB …`)
  let gw: GatewayProcess | undefined
  let starts: Awaited<ReturnType<typeof measureEgressStarts>>
  let transfers: ThroughputRun
  try {
    gw = await startGatewayProcess({
      cliPath: join(findRepoRoot(), 'packages/lab/dist/cli.mjs'),
      config: {
        driver: 'local',
        pools: [{ name: EGRESS_POOL, network: true, policy: { kind: 'fixed', size: o.poolSize }, maxSize: o.poolSize + 4, maxConcurrentCreates: 2 }],
      },
    })
    starts = await measureEgressStarts(new LabClient(gw.url, gw.apiKey), o, signal, log)
    await gw.stop()
    gw = undefined
    transfers = await measureEgressThroughput(o, log)
  } catch (err) {
    log(`infra-lab bench egress: ${(err as Error).message}`)
    return { code: signal.aborted ? 130 : 1 }
  } finally {
    await gw?.stop()
  }
  const report = buildEgressReport(starts, transfers, {
    machine: machineInfo(), date: new Date().toISOString(), command, load: { atStart: round2(atStart), atEnd: round2(loadavg()[0]!) },
    ...(flags.note ? { note: flags.note } : {}),
  }, o.repeats)
  const md = renderEgressMarkdown(report)
  const outDir = resolve(io.cwd, flags.out)
  const chart = await barChartSvg(`Egress proxy throughput, ${report.transfers.mib} MiB (median of ${o.repeats})`, 'MiB/s',
    TRANSFER_PATHS.map((p) => ({ group: p.endsWith('tls') ? 'HTTPS' : 'HTTP', series: p, value: report.transfers.medianMibPerS[p] })))
  const files = [...Object.values(writeResult(outDir, 'egress', md, report)), writeSvg(outDir, 'egress', chart)]
  if (flags.json) io.stdout.write(`${JSON.stringify(report)}\n`)
  else io.stdout.write(`${md}\nwritten: ${files.join(', ')}\n`)
  return { code: signal.aborted ? 130 : 0, report, files }
}

export function buildEgressReport(
  starts: { series: Record<StartPolicy, StartSeries>; cold: number }, transfers: ThroughputRun,
  meta: Pick<EgressReport, 'machine' | 'date' | 'command' | 'note' | 'load'>, repeats: number,
): EgressReport {
  const none = starts.series.none.totalMs
  const allow = starts.series.allow.totalMs
  const ratio = median(allow) / median(none)
  const ci = bootstrapRatioCi(allow, none)
  const noneSplitRatio = median(none.filter((_, i) => i % 2 === 0)) / median(none.filter((_, i) => i % 2 === 1))
  const summary = (s: StartSeries): StartSummary => ({
    n: s.totalMs.length, totalP50Ms: round2(median(s.totalMs)), totalP95Ms: round2(quantile(s.totalMs, 0.95)), claimP50Ms: round2(median(s.claimMs)),
  })
  const medianMibPerS = Object.fromEntries(TRANSFER_PATHS.map((p) => [p, round2(median(transfers.mibPerS[p]))])) as Record<TransferPath, number>
  return {
    benchmark: 'egress', driver: 'local',
    ...meta,
    starts: {
      none: summary(starts.series.none), allow: summary(starts.series.allow),
      ratio: round3(ratio), ratioCi: [round3(ci[0]), round3(ci[1])], noneSplitRatio: round3(noneSplitRatio),
      // within noise: the interval holds 1, or the difference is no larger than the one between two halves of the same series
      withinNoise: (ci[0] <= 1 && ci[1] >= 1) || Math.abs(ratio - 1) <= Math.abs(noneSplitRatio - 1),
      cold: starts.cold,
    },
    transfers: {
      mib: transfers.mib, repeats, medianMibPerS,
      connectRatio: round3(medianMibPerS['connect-http'] / medianMibPerS['direct-http']),
      connectTlsRatio: round3(medianMibPerS['connect-tls'] / medianMibPerS['direct-tls']),
      injectedRatio: round3(medianMibPerS['injected-tls'] / medianMibPerS['direct-tls']),
      ...(transfers.congestion ? { congestion: transfers.congestion } : {}),
    },
  }
}

export function renderEgressMarkdown(r: EgressReport): string {
  const s = r.starts
  const t = r.transfers
  const pct = (v: number) => `${(v * 100).toFixed(0)} %`
  return [
    '# Egress: warm starts with a policy, and the proxy\'s throughput',
    '',
    `${machineLine(r.machine)}; ${r.date}; load ${r.load.atStart} -> ${r.load.atEnd}`,
    `Command: \`${r.command}\``,
    ...(r.note ? ['', `Note: ${r.note}`] : []),
    '',
    '## Warm start: `egress: "allow"` against `none`',
    '',
    `The policy is bound at claim time (a map entry in the proxy), so a start with an allow-list of ${START_POLICIES.allow.allow.length} patterns should cost what one with none does. Interleaved, every start warm (the pool refilled before each; ${s.cold} cold).`,
    '',
    '| policy | n | POST to first byte p50 | p95 | gateway claimMs p50 |',
    '|---|---|---|---|---|',
    ...(['none', 'allow'] as const).map((p) => `| ${p} | ${s[p].n} | ${s[p].totalP50Ms} ms | ${s[p].totalP95Ms} ms | ${s[p].claimP50Ms} ms |`),
    '',
    `allow / none (medians): **${s.ratio}x** (95 % bootstrap interval ${s.ratioCi[0]}-${s.ratioCi[1]}); two halves of \`none\` alone differ by ${s.noneSplitRatio}x. ` +
      `Within noise: **${s.withinNoise ? 'yes' : 'no'}**.`,
    '',
    `## Throughput through the proxy: ${t.mib} MiB, median of ${t.repeats}`,
    '',
    'curl is the client on every path and the upstream runs in its own process, so only the proxy differs. The proxy runs in the benchmark\'s process, as in the gateway.',
    ...(t.congestion ? ['', `TCP congestion control: the host's default, \`${t.congestion.host}\`, for the upstream and curl; \`${t.congestion.sandboxHop}\` for the proxy's side toward the sandbox (SANDBOX_HOP_CONGESTION in egress/proxy.ts).`] : []),
    '',
    '| path | MiB/s | what |',
    '|---|---|---|',
    ...TRANSFER_PATHS.map((p) => `| ${p} | ${t.medianMibPerS[p]} | ${TRANSFER_PATH_TEXT[p]} |`),
    '',
    `- CONNECT pass-through, plain HTTP inside: **${pct(t.connectRatio)}** of the direct loopback transfer (goal: at least 50 %: ${t.connectRatio >= 0.5 ? 'met' : 'not met'}).`,
    `- CONNECT pass-through of TLS: ${pct(t.connectTlsRatio)} of direct TLS.`,
    `- The injecting path (TLS terminated by the proxy, a second TLS session upstream): ${pct(t.injectedRatio)} of direct TLS.`,
    '',
  ].join('\n')
}

const round2 = (v: number) => Math.round(v * 100) / 100
const round3 = (v: number) => Math.round(v * 1000) / 1000
