import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling'
import { ECSClient } from '@aws-sdk/client-ecs'
import { pino } from 'pino'
import { EcsDriver } from '../drivers/ecs/ecs-driver.ts'
import type { CliIo, ExitCode } from '../io.ts'
import { awsCredentialsPresent } from './aws-credentials.ts'
import { awsErrorLine, realClock, type BenchClock } from './ecs-calls.ts'
import { NO_CREDENTIALS, benchEcsConfig, type BenchEcsFlags } from './ecs-command.ts'
import { machineInfo } from './machine.ts'
import { formatMs, provenance, squeeze, writeResult } from './report.ts'
import { msStats } from './startup-report.ts'
import { WarmPoolBenchFailed, runWarmPoolBench, type ScaleOutMode, type ScaleOutTrial, type WarmPoolRun } from './warm-pool-bench.ts'

export interface BenchWarmPoolFlags extends Pick<BenchEcsFlags, 'cluster' | 'taskDefinition' | 'subnets' | 'securityGroups' | 'region' | 'out' | 'json'> {
  readonly asg?: string
  readonly unpulledTaskDefinition?: string
  readonly modes: string
  readonly trials: number
  readonly pollMs: number
  readonly timeoutS: number
}

export interface BenchWarmPoolDeps {
  readonly autoscaling?: AutoScalingClient
  readonly ecs?: ECSClient
  readonly clock?: BenchClock
  readonly runId?: string
}

const MODES: readonly ScaleOutMode[] = ['warm', 'cold']

/**
 * `infra-lab bench warm-pool`: Auto Scaling scale-out from the warm pool vs a cold launch, until
 * ECS has the instance registered, and its first task with and without the pre-pulled image.
 * Needs AWS credentials; restores the desired capacity and stops its tasks, also on failure and Ctrl-C.
 */
export async function benchWarmPoolCommand(flags: BenchWarmPoolFlags, io: CliIo, signal: AbortSignal, deps: BenchWarmPoolDeps = {}): Promise<ExitCode> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const fail = (s: string, code: ExitCode = 1) => {
    log(`infra-lab bench warm-pool: ${s}`)
    return code
  }
  const errors: string[] = []
  const asg = flags.asg ?? io.env.INFRA_LAB_ASG
  if (!asg) errors.push('--asg <name> is required (env INFRA_LAB_ASG): the Auto Scaling group of the ShellCluster construct')
  const modes = flags.modes.split(',').map((m) => m.trim()).filter(Boolean)
  const bad = modes.filter((m) => !(MODES as readonly string[]).includes(m))
  if (modes.length === 0 || bad.length > 0) errors.push(`--modes must be warm, cold or warm,cold (got ${JSON.stringify(flags.modes)})`)
  const cfg = benchEcsConfig({ ...flags, samples: 1, warmup: 0, pollMs: flags.pollMs, taskTimeoutS: flags.timeoutS, agentPort: 7100, user: 'bench' }, io.env)
  if ('errors' in cfg) errors.push(...cfg.errors)
  if (errors.length > 0 || 'errors' in cfg) return fail(errors.join('\n  '), 2)
  if (!awsCredentialsPresent(io.env)) return fail(NO_CREDENTIALS)
  const { config } = cfg
  const region = config.region ? { region: config.region } : {}
  const autoscaling = deps.autoscaling ?? new AutoScalingClient({ maxAttempts: 6, retryMode: 'standard', ...region })
  const ecs = deps.ecs ?? new ECSClient({ maxAttempts: 6, retryMode: 'standard', ...region })
  const driver = new EcsDriver({
    cluster: config.cluster!, taskDefinition: config.taskDefinition!, subnets: config.subnets!, securityGroups: config.securityGroups ?? [],
    agentKey: randomBytes(32), startedBy: deps.runId ?? `infra-lab-bench-${randomBytes(4).toString('hex')}`, logger: pino({ level: 'silent' }), ...region,
  }, { client: ecs })
  try {
    await driver.init()
  } catch (err) {
    return fail((err as Error).message)
  }
  log(`infra-lab bench warm-pool: ${flags.trials} trial(s) of ${modes.join(', ')} on ${asg} / ${config.cluster}; the desired capacity is restored afterwards`)
  let run: WarmPoolRun
  let failed: string | undefined
  try {
    run = await runWarmPoolBench({
      asg: asg!, driver, modes: modes as ScaleOutMode[], trials: flags.trials, pollMs: flags.pollMs, timeoutMs: flags.timeoutS * 1000,
      ...(flags.unpulledTaskDefinition ? { unpulledTaskDefinition: flags.unpulledTaskDefinition } : {}),
    }, { autoscaling, ecs, clock: deps.clock ?? realClock, progress: log }, signal)
  } catch (err) {
    if (!(err instanceof WarmPoolBenchFailed)) return fail(awsErrorLine(err))
    run = err.run
    failed = awsErrorLine(err.cause ?? err)
  }
  if (run.cleanup.failed.length > 0) log(`infra-lab bench warm-pool: CLEANUP FAILED, fix by hand: ${run.cleanup.failed.join('; ')}`)
  else log(`infra-lab bench warm-pool: cleanup: ${run.cleanup.stopped} task(s) stopped, desired capacity back to ${run.desired.original}`)

  const machine = machineInfo()
  const date = new Date()
  const name = `warm-pool-${run.poolState.toLowerCase()}`
  const command = [
    'npx infra-lab bench warm-pool', `--asg ${asg}`, `--cluster ${config.cluster}`, `--task-definition ${config.taskDefinition}`,
    ...(flags.unpulledTaskDefinition ? [`--unpulled-task-definition ${flags.unpulledTaskDefinition}`] : []),
    `--subnets ${config.subnets!.join(',')}`, `--modes ${modes.join(',')}`, `--trials ${flags.trials}`, `--out ${flags.out}`,
  ].join(' ')
  const rows = warmPoolRows(run.trials)
  const json = { benchmark: 'warm-pool', name, asg, cluster: config.cluster, machine, date: date.toISOString(), command, ...run, rows }
  const md = squeeze([
    `# EC2 warm pool (${run.poolState}) vs cold launch: ${asg}`,
    '',
    run.partial ? '**Partial run (interrupted or failed); the trials taken are below.**\n' : '',
    'Each trial sets the desired capacity up (warm: +1, the instance leaves the warm pool; cold: one more than the pool holds, so the last one launches),',
    'times the measured instance until its ECS container instance is ACTIVE with a connected agent, then starts its first task(s) with StartTask.',
    'Milliseconds from SetDesiredCapacity; poll-quantized except the ECS createdAt -> startedAt rows.',
    '',
    '| trial | what | n | p50 | p95 | p99 | max |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.mode} | ${r.what} | ${r.ms.n} | ${formatMs(r.ms.p50)} | ${formatMs(r.ms.p95)} | ${formatMs(r.ms.p99)} | ${formatMs(r.ms.max)} |`),
    '',
    flags.unpulledTaskDefinition ? '' : 'No `--unpulled-task-definition`: the first task without the pre-pulled image was not measured.',
    `AWS calls: ${run.calls.calls}, SDK retries (throttling, 5xx): ${run.calls.retries}, calls failed on throttling: ${run.calls.throttledFailures}.`,
    `Desired capacity: ${run.desired.original} before, ${run.desired.restored ?? '**not restored**'} after. Tasks stopped: ${run.cleanup.stopped}.`,
    '',
    `Raw data: [${name}.json](${name}.json).`,
    '',
    '## Provenance', '', provenance(machine, command, date), '',
  ])
  const files = Object.values(writeResult(resolve(io.cwd, flags.out), name, md, json))
  if (flags.json) io.stdout.write(`${JSON.stringify(json)}\n`)
  else io.stdout.write(`warm-pool (${run.poolState}): ${rows.filter((r) => r.what === 'registered with ECS').map((r) => `${r.mode} registered p50 ${formatMs(r.ms.p50)} ms (n=${r.ms.n})`).join(', ')}\nwritten: ${files.join(', ')}\n`)
  if (failed) return fail(failed)
  if (run.cleanup.failed.length > 0) return 1
  return run.partial ? 130 : 0
}

export function warmPoolRows(trials: readonly ScaleOutTrial[]): { mode: ScaleOutMode; what: string; ms: ReturnType<typeof msStats> }[] {
  const rows: { mode: ScaleOutMode; what: string; ms: ReturnType<typeof msStats> }[] = []
  for (const mode of MODES) {
    const ts = trials.filter((t) => t.mode === mode)
    if (ts.length === 0) continue
    const stat = (xs: (number | undefined)[]) => msStats(xs.filter((v): v is number => v !== undefined), 0)
    rows.push({ mode, what: 'InService', ms: stat(ts.map((t) => t.inServiceMs)) })
    rows.push({ mode, what: 'registered with ECS', ms: stat(ts.map((t) => t.registeredMs)) })
    for (const image of ['pre-pulled', 'not pre-pulled'] as const) {
      const starts = ts.flatMap((t) => t.tasks.filter((x) => x.image === image))
      if (starts.length === 0) continue
      rows.push({ mode, what: `first task, ${image}: ECS createdAt -> startedAt`, ms: stat(starts.map((x) => x.ecsStartMs)) })
      rows.push({ mode, what: `first task, ${image}: image pull`, ms: stat(starts.map((x) => x.pullMs)) })
      rows.push({ mode, what: `scale-out -> first task started, ${image} (total)`, ms: stat(ts.flatMap((t) => t.tasks.filter((x) => x.image === image).map((x) => t.registeredMs + x.startMs))) })
    }
  }
  return rows
}
