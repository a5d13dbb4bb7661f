import type { LatencyStats } from './histogram.ts'
import type { MachineInfo } from './machine.ts'
import { formatMs, provenance, squeeze } from './report.ts'
import { msStats } from './startup-report.ts'
import type { EcsBenchRun } from './ecs-bench.ts'

export interface EcsRow {
  readonly path: 'cold' | 'warm'
  readonly what: string
  readonly ms: LatencyStats
}

export interface EcsReport {
  readonly benchmark: 'ecs'
  readonly name: string
  readonly cluster: string
  readonly taskDefinition: string
  readonly capacityProviders: readonly string[]
  readonly machine: MachineInfo
  readonly date: string
  readonly command: string
  readonly partial: boolean
  readonly rows: readonly EcsRow[]
  /** Image pull's share of the cold path: median of the per-task shares, and Σpull / Σcold total. */
  readonly pullShare: { readonly n: number; readonly median: number; readonly overall: number }
  readonly calls: EcsBenchRun['calls']
  readonly cleanup: EcsBenchRun['cleanup']
  readonly samples: Pick<EcsBenchRun, 'cold' | 'warm'>
}

export function ecsRows(run: EcsBenchRun): EcsRow[] {
  const w = run.warmup
  const col = <T>(xs: readonly T[], f: (x: T) => number | undefined) => msStats(xs.map(f).filter((v): v is number => v !== undefined), w)
  return [
    { path: 'cold', what: 'RunTask -> agent hello (total)', ms: col(run.cold, (s) => s.totalMs) },
    { path: 'cold', what: 'RunTask call', ms: col(run.cold, (s) => s.runTaskMs) },
    { path: 'cold', what: 'RunTask -> RUNNING seen (poll-quantized)', ms: col(run.cold, (s) => s.runningMs) },
    { path: 'cold', what: 'ECS createdAt -> startedAt', ms: col(run.cold, (s) => s.ecsStartMs) },
    { path: 'cold', what: 'image pull (pullStartedAt -> pullStoppedAt)', ms: col(run.cold, (s) => s.pullMs) },
    { path: 'cold', what: 'RUNNING -> agent hello', ms: col(run.cold, (s) => s.helloMs) },
    { path: 'warm', what: 'claim from the warm pool (total)', ms: col(run.warm, (s) => s.totalMs) },
    { path: 'warm', what: 'connect: TLS-PSK + hello', ms: col(run.warm, (s) => s.connectMs) },
    { path: 'warm', what: 'claim -> ready', ms: col(run.warm, (s) => s.claimMs) },
  ]
}

export function pullShareSummary(run: EcsBenchRun): EcsReport['pullShare'] {
  const withPull = run.cold.filter((s) => s.pullShare !== undefined)
  const shares = withPull.map((s) => s.pullShare!).sort((a, b) => a - b)
  const mid = shares.length / 2
  const median = shares.length === 0 ? Number.NaN : shares.length % 2 ? shares[Math.floor(mid)]! : (shares[mid - 1]! + shares[mid]!) / 2
  const totalMs = withPull.reduce((a, s) => a + s.totalMs, 0)
  const overall = totalMs > 0 ? withPull.reduce((a, s) => a + s.pullMs!, 0) / totalMs : Number.NaN
  return { n: shares.length, median, overall }
}

const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)} %` : 'n/a')

export function ecsMarkdown(r: EcsReport, machine: MachineInfo): string {
  return squeeze([
    `# ECS task start: cold task vs claim from the warm pool (${r.cluster})`,
    '',
    r.partial ? '**Partial run (interrupted or failed); the samples taken are below.**\n' : '',
    `Task definition \`${r.taskDefinition}\`, capacity providers ${r.capacityProviders.length ? r.capacityProviders.map((c) => `\`${c}\``).join(', ') : 'the cluster default'}.`,
    'Cold: RunTask, DescribeTasks until RUNNING, then the agent\'s hello over TLS-PSK on the task\'s private address.',
    'Warm: the same tasks afterwards, each claimed once: connect (TLS-PSK + hello), claim, the agent\'s ready.',
    `${r.samples.cold.length ? '' : 'No samples. '}Milliseconds, HDR histogram; \`warm-up\` samples are excluded.`,
    '',
    '| path | what | n | warm-up | p50 | p95 | p99 | max |',
    '|---|---|---|---|---|---|---|---|',
    ...r.rows.map((x) => `| ${x.path} | ${x.what} | ${x.ms.n} | ${x.ms.warmup} | ${formatMs(x.ms.p50)} | ${formatMs(x.ms.p95)} | ${formatMs(x.ms.p99)} | ${formatMs(x.ms.max)} |`),
    '',
    `Image pull share of the cold path: median ${pct(r.pullShare.median)}, overall ${pct(r.pullShare.overall)} (n=${r.pullShare.n}).`,
    `AWS calls: ${r.calls.calls}, SDK retries (throttling, 5xx): ${r.calls.retries}, calls failed on throttling: ${r.calls.throttledFailures}.`,
    `Cleanup: ${r.cleanup.stopped} task(s) stopped${r.cleanup.failed.length ? `; **not stopped: ${r.cleanup.failed.join('; ')}**` : ''}.`,
    '',
    `${r.samples.cold.length > 0 ? `Chart: [${r.name}.svg](${r.name}.svg). ` : ''}Raw data: [${r.name}.json](${r.name}.json).`,
    '',
    '## Provenance', '', provenance(machine, r.command, new Date(r.date)), '',
  ])
}
