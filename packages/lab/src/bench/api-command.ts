import { resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { ECSClient } from '@aws-sdk/client-ecs'
import type { SandboxDriver } from '../drivers/types.ts'
import type { CliIo, ExitCode } from '../io.ts'
import { awsCredentialsPresent } from './aws-credentials.ts'
import { benchDriverApi, openDockerDriver, openLocalDriver, type ApiBenchResult } from './api.ts'
import { CallCounter, awsErrorLine, countCalls, type CallCounts } from './ecs-calls.ts'
import { barChartSvg } from './charts.ts'
import { machineInfo } from './machine.ts'
import { formatMs, provenance, squeeze, writeResult, writeSvg } from './report.ts'

export interface BenchApiFlags {
  readonly driver: string
  readonly calls: number
  readonly concurrency: number
  readonly warmup: number
  readonly out: string
  readonly json?: boolean
}

export interface ApiCommandOutcome {
  readonly code: ExitCode
  readonly result?: ApiBenchResult
  /** Why the driver was not measured (not an error: `bench all` carries on). */
  readonly skipped?: string
  readonly files?: string[]
}

export async function benchApiCommand(flags: BenchApiFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  return (await runBenchApi(flags, io, signal)).code
}

/** What tests replace: the ECS client (mocked). */
export interface BenchApiDeps {
  readonly ecs?: ECSClient
}

export async function runBenchApi(flags: BenchApiFlags, io: CliIo, signal: AbortSignal, deps: BenchApiDeps = {}): Promise<ApiCommandOutcome> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const skip = (why: string): ApiCommandOutcome => {
    log(`infra-lab bench api --driver ${flags.driver}: skipped: ${why}`)
    return { code: 0, skipped: why }
  }
  let opened: { driver: SandboxDriver; close(): Promise<void>; calls?: () => CallCounts }
  if (flags.driver === 'ecs') {
    if (!awsCredentialsPresent(io.env)) return skip('no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID, or ~/.aws/credentials)')
    const ecs = await openEcs(io.env, deps.ecs)
    if ('skip' in ecs) return skip(ecs.skip)
    if ('error' in ecs) {
      log(`infra-lab bench api --driver ecs: ${ecs.error}`)
      return { code: 1 }
    }
    opened = ecs
  } else if (flags.driver === 'local') {
    try {
      opened = await openLocalDriver()
    } catch (err) {
      return skip(`the local driver cannot run on this host: ${(err as Error).message}`)
    }
  } else if (flags.driver === 'docker') {
    try {
      opened = await openDockerDriver()
    } catch (err) {
      return skip(`the docker driver cannot run on this host: ${(err as Error).message}`)
    }
  } else {
    return skip(`driver ${flags.driver} is not available here (available: local, docker; ecs with AWS credentials)`)
  }
  let result: ApiBenchResult
  try {
    result = await benchDriverApi(opened.driver, flags, signal, (k) => {
      if (k % 10 === 0 || k === flags.calls) log(`  api ${flags.driver}: ${k}/${flags.calls}`)
    })
  } catch (err) {
    log(`infra-lab bench api: ${(err as Error).message}`)
    return { code: 1 }
  } finally {
    await opened.close()
  }
  const machine = machineInfo()
  const date = new Date()
  const command = `npx infra-lab bench api --driver ${flags.driver} --calls ${flags.calls} --concurrency ${flags.concurrency} --warmup ${flags.warmup} --out ${flags.out}`
  const name = `api-${flags.driver}`
  const calls = opened.calls?.()
  const json = { benchmark: 'api', name, machine, date: date.toISOString(), command, ...result, ...(calls ? { awsCalls: calls } : {}) }
  const outDir = resolve(io.cwd, flags.out)
  const lines = [
    `# Driver control-plane latency: ${flags.driver}`,
    '',
    result.partial ? '**Partial run (interrupted).**\n' : '',
    `${flags.calls} sandboxes created in batches of ${flags.concurrency}; after each batch one list, a connect to each, then the destroys.`,
    `${flags.warmup} create/destroy pairs before the measurement are excluded (\`warm-up\`). Milliseconds, HDR histogram.`,
    '',
    '| call | n | warm-up | p50 | p95 | p99 | max | what |',
    '|---|---|---|---|---|---|---|---|',
    ...result.results.map((r) => `| ${r.call} | ${r.latencyMs.n} | ${r.latencyMs.warmup} | ${formatMs(r.latencyMs.p50)} | ${formatMs(r.latencyMs.p95)} | ${formatMs(r.latencyMs.p99)} | ${formatMs(r.latencyMs.max)} | ${r.what} |`),
    '',
    calls ? `AWS calls: ${calls.calls}; extra attempts by the SDK's retry strategy (throttling, 5xx): ${calls.retries}; calls still throttled after every attempt: ${calls.throttledFailures}.\n` : '',
    `Chart: [${name}.svg](${name}.svg). Raw data: [${name}.json](${name}.json).`,
    '',
    '## Provenance', '', provenance(machine, command, date), '',
  ]
  const files = Object.values(writeResult(outDir, name, squeeze(lines), json))
  const bars = result.results.flatMap((r) => (['p50', 'p99'] as const).map((p) => ({ group: r.call, series: p, value: r.latencyMs[p] })))
  files.push(writeSvg(outDir, name, await barChartSvg(`${flags.driver} driver: call latency`, 'milliseconds (log)', bars, { logScale: true })))
  if (flags.json) io.stdout.write(`${JSON.stringify(json)}\n`)
  else io.stdout.write(`api (${flags.driver}): ${result.results.map((r) => `${r.call} p50 ${formatMs(r.latencyMs.p50)} ms (n=${r.latencyMs.n})`).join(', ')}\nwritten: ${files.join(', ')}\n`)
  return { code: result.partial ? 130 : 0, result, files }
}

/**
 * The ECS driver on the cluster named by the gateway's INFRA_LAB_ECS_* settings, its own
 * `startedBy`, and every AWS call it makes counted with the SDK's retries.
 */
async function openEcs(env: CliIo['env'], client?: ECSClient): Promise<{ driver: SandboxDriver; close(): Promise<void>; calls: () => CallCounts } | { skip: string } | { error: string }> {
  const { benchEcsConfig, openEcsBenchDriver } = await import('./ecs-command.ts')
  const cfg = benchEcsConfig({}, env)
  if ('errors' in cfg) return { skip: `ECS settings missing (INFRA_LAB_ECS_CLUSTER, _TASK_DEFINITION, _SUBNETS, …): ${cfg.errors.join('; ')}` }
  const runId = `infra-lab-bench-api-${randomBytes(4).toString('hex')}`
  const opened = openEcsBenchDriver(cfg.config, { runId, agentPort: 17400, pollMs: 500, ...(client ? { client } : {}) })
  const counter = new CallCounter()
  countCalls(opened.client, counter)
  try {
    await opened.driver.init()
  } catch (err) {
    return { error: awsErrorLine(err) }
  }
  return { driver: opened.driver, close: async () => undefined, calls: () => counter.total }
}
