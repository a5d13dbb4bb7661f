import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { ECSClient } from '@aws-sdk/client-ecs'
import { pino } from 'pino'
import { ecsConfigSchema, ecsFromEnv, ecsFromFlags, missingEcsFields, type EcsConfig, type EcsFlags } from '../config/ecs.ts'
import { EcsDriver } from '../drivers/ecs/ecs-driver.ts'
import { tlsPskDialer, type AgentDialer } from '../drivers/ecs/transport.ts'
import type { CliIo, ExitCode } from '../io.ts'
import { awsCredentialsPresent } from './aws-credentials.ts'
import { barChartSvg } from './charts.ts'
import { EcsBenchFailed, runEcsBench, type EcsBenchRun } from './ecs-bench.ts'
import { awsErrorLine, realClock, type BenchClock } from './ecs-calls.ts'
import { ecsMarkdown, ecsRows, pullShareSummary, type EcsReport } from './ecs-report.ts'
import { machineInfo } from './machine.ts'
import { formatMs, writeResult, writeSvg } from './report.ts'

export interface BenchEcsFlags extends EcsFlags {
  readonly region?: string
  readonly samples: number
  readonly warmup: number
  readonly pollMs: number
  readonly taskTimeoutS: number
  readonly agentPort: number
  readonly user: string
  readonly out: string
  readonly json?: boolean
}

/** What tests replace: the ECS client (mocked), the agent dialer, the clock, the run id. */
export interface BenchEcsDeps {
  readonly ecs?: ECSClient
  readonly dial?: AgentDialer
  readonly clock?: BenchClock
  readonly runId?: string
}

const NAME = 'ecs-startup'
export const NO_CREDENTIALS = 'no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID, or ~/.aws/credentials, for the account the stack is deployed in)'

/** Cluster, task definition, subnets, … from the flags, else the gateway's INFRA_LAB_ECS_* variables. */
export function benchEcsConfig<F extends EcsFlags & { readonly region?: string }>(flags: F, env: CliIo['env']): { config: EcsConfig } | { errors: string[] } {
  const { agentKey: _secret, ...fromEnv } = ecsFromEnv(env)
  const parsed = ecsConfigSchema.safeParse({ ...fromEnv, ...ecsFromFlags(flags), ...(flags.region ? { region: flags.region } : {}) })
  if (!parsed.success) return { errors: parsed.error.issues.map((i) => `ecs.${i.path.join('.')}: ${i.message}`) }
  const missing = missingEcsFields(parsed.data)
  return missing.length > 0 ? { errors: missing } : { config: parsed.data }
}

/**
 * An ECS driver for a benchmark run: its own `startedBy` (so cleanup finds exactly its tasks), a
 * fresh agent key, and the SDK's standard retry strategy (throttling and 5xx, jittered back-off).
 */
export function openEcsBenchDriver(config: EcsConfig, o: { runId: string; agentPort: number; pollMs: number; client?: ECSClient }): { client: ECSClient; driver: EcsDriver } {
  const client = o.client ?? new ECSClient({ maxAttempts: 6, retryMode: 'standard', ...(config.region ? { region: config.region } : {}) })
  const driver = new EcsDriver({
    cluster: config.cluster!, taskDefinition: config.taskDefinition!, subnets: config.subnets!, securityGroups: config.securityGroups ?? [],
    capacityProviderStrategy: config.capacityProviders ?? [], agentKey: randomBytes(32), agentPort: o.agentPort, startedBy: o.runId,
    pollIntervalMs: o.pollMs, logger: pino({ level: 'silent' }), ...(config.region ? { region: config.region } : {}),
  }, { client })
  return { client, driver }
}

/**
 * `infra-lab bench ecs`: cold tasks on a deployed cluster (RunTask -> RUNNING -> agent hello,
 * with the image-pull share) vs claims of warm tasks. Needs AWS credentials; stops every task it
 * started, also on failure and Ctrl-C.
 */
export async function benchEcsCommand(flags: BenchEcsFlags, io: CliIo, signal: AbortSignal, deps: BenchEcsDeps = {}): Promise<ExitCode> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const fail = (s: string, code: ExitCode = 1) => {
    log(`infra-lab bench ecs: ${s}`)
    return code
  }
  const cfg = benchEcsConfig(flags, io.env)
  if ('errors' in cfg) return fail(cfg.errors.join('\n  '), 2)
  if (!awsCredentialsPresent(io.env)) return fail(NO_CREDENTIALS)
  const { config } = cfg
  const runId = deps.runId ?? `infra-lab-bench-${randomBytes(4).toString('hex')}`
  const { client, driver } = openEcsBenchDriver(config, { runId, agentPort: flags.agentPort, pollMs: flags.pollMs, ...(deps.ecs ? { client: deps.ecs } : {}) })
  try {
    await driver.init()
  } catch (err) {
    return fail((err as Error).message)
  }
  log(`infra-lab bench ecs: ${flags.warmup}+${flags.samples} cold tasks on ${config.cluster} (startedBy ${runId}), then a claim of each`)
  let run: EcsBenchRun
  let failed: string | undefined
  try {
    run = await runEcsBench(
      { driver, samples: flags.samples, warmup: flags.warmup, pollMs: flags.pollMs, taskTimeoutMs: flags.taskTimeoutS * 1000, user: flags.user },
      { ecs: client, dial: deps.dial ?? tlsPskDialer, clock: deps.clock ?? realClock, progress: log },
      signal,
    )
  } catch (err) {
    if (!(err instanceof EcsBenchFailed)) return fail(awsErrorLine(err))
    run = err.run
    failed = awsErrorLine(err.cause ?? err)
  }
  if (run.cleanup.failed.length > 0) log(`infra-lab bench ecs: NOT STOPPED, stop by hand (aws ecs stop-task --cluster ${config.cluster} --task <arn>): ${run.cleanup.failed.join('; ')}`)
  else log(`infra-lab bench ecs: cleanup: ${run.cleanup.stopped} task(s) stopped`)

  const machine = machineInfo()
  const date = new Date()
  const capacityProviders = (config.capacityProviders ?? []).map((c) => `${c.capacityProvider}:${c.weight}:${c.base}`)
  const command = [
    'npx infra-lab bench ecs', `--cluster ${config.cluster}`, `--task-definition ${config.taskDefinition}`, `--subnets ${config.subnets!.join(',')}`,
    ...(config.securityGroups?.length ? [`--security-groups ${config.securityGroups.join(',')}`] : []),
    ...capacityProviders.map((c) => `--capacity-provider ${c}`),
    `--samples ${flags.samples}`, `--warmup ${flags.warmup}`, `--poll-ms ${flags.pollMs}`, `--out ${flags.out}`,
  ].join(' ')
  const report: EcsReport = {
    benchmark: 'ecs', name: NAME, cluster: config.cluster!, taskDefinition: config.taskDefinition!, capacityProviders,
    machine, date: date.toISOString(), command, partial: run.partial, rows: ecsRows(run), pullShare: pullShareSummary(run),
    calls: run.calls, cleanup: run.cleanup, samples: { cold: run.cold, warm: run.warm },
  }
  const outDir = resolve(io.cwd, flags.out)
  const files = Object.values(writeResult(outDir, NAME, ecsMarkdown(report, machine), report))
  const totals = report.rows.filter((r) => r.what.endsWith('(total)'))
  const bars = totals.flatMap((r) => (['p50', 'p99'] as const).map((p) => ({ group: r.path, series: p, value: r.ms[p] }))).filter((b) => b.value > 0)
  // A run that failed before its first sample has nothing to draw.
  if (bars.length > 0) files.push(writeSvg(outDir, NAME, await barChartSvg(`ECS: cold task vs warm claim (${config.cluster})`, 'milliseconds (log)', bars, { logScale: true })))
  if (flags.json) io.stdout.write(`${JSON.stringify(report)}\n`)
  else io.stdout.write(`ecs: ${totals.map((r) => `${r.path} p50 ${formatMs(r.ms.p50)} ms (n=${r.ms.n})`).join(', ')}\nwritten: ${files.join(', ')}\n`)
  if (failed) return fail(failed)
  if (run.cleanup.failed.length > 0) return 1
  return run.partial ? 130 : 0
}
