import {
  DescribeTasksCommand, ListTasksCommand, RunTaskCommand, StopTaskCommand, type ECSClient, type Task,
} from '@aws-sdk/client-ecs'
import { ECS_WORKSPACE_HOME, type EcsDriver } from '../drivers/ecs/ecs-driver.ts'
import { runTaskFailure, stoppedBeforeHello } from '../drivers/ecs/failures.ts'
import { handleOf } from '../drivers/ecs/task.ts'
import { taskKey, type AgentDialer } from '../drivers/ecs/transport.ts'
import { CallCounter, type BenchClock, type CallCounts } from './ecs-calls.ts'

const CLAIM_TIMEOUT_MS = 30_000

/** One cold task: RunTask until its agent said hello. Milliseconds. */
export interface ColdSample {
  readonly id: string
  readonly taskArn: string
  /** The RunTask call itself. */
  readonly runTaskMs: number
  /** RunTask sent -> DescribeTasks first shows RUNNING with an address (quantized by the poll interval). */
  readonly runningMs: number
  /** RUNNING seen -> the agent's hello over TLS-PSK. */
  readonly helloMs: number
  /** RunTask sent -> hello: the cold path. */
  readonly totalMs: number
  /** ECS's own createdAt -> startedAt (no poll quantization). */
  readonly ecsStartMs?: number
  /** pullStoppedAt - pullStartedAt, and its share of totalMs. */
  readonly pullMs?: number
  readonly pullShare?: number
}

/** One claim of a warm task: connect (TLS-PSK + hello), then claim -> ready. */
export interface WarmSample {
  readonly id: string
  readonly connectMs: number
  readonly claimMs: number
  readonly totalMs: number
}

export interface EcsBenchPlan {
  /** Gives the RunTask request (the product's own), the cluster and the agent key. */
  readonly driver: EcsDriver
  readonly samples: number
  readonly warmup: number
  readonly pollMs: number
  readonly taskTimeoutMs: number
  /** The user the warm claims are for (its workspace directory is created on EFS once). */
  readonly user: string
}

export interface EcsBenchDeps {
  readonly ecs: ECSClient
  readonly dial: AgentDialer
  readonly clock: BenchClock
  readonly progress?: (line: string) => void
}

export interface EcsBenchRun {
  readonly cold: readonly ColdSample[]
  readonly warm: readonly WarmSample[]
  readonly warmup: number
  readonly partial: boolean
  readonly calls: CallCounts
  /** Tasks started and what became of them: every one is stopped, or listed here as not. */
  readonly cleanup: { readonly stopped: number; readonly failed: readonly string[] }
}

/** The image-pull part of a cold start, from the task's pullStartedAt/pullStoppedAt. */
export function pullShareOf(task: Pick<Task, 'pullStartedAt' | 'pullStoppedAt'>, totalMs: number): { pullMs: number; pullShare: number } | undefined {
  if (!task.pullStartedAt || !task.pullStoppedAt || !(totalMs > 0)) return undefined
  const pullMs = Math.max(0, task.pullStoppedAt.getTime() - task.pullStartedAt.getTime())
  return { pullMs, pullShare: Math.min(1, pullMs / totalMs) }
}

/** An error that carries the failed run's partial samples after cleanup ran. */
export class EcsBenchFailed extends Error {
  override readonly name = 'EcsBenchFailed'
  constructor(message: string, readonly run: EcsBenchRun, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/**
 * Cold tasks one after another (`warmup + samples`), then a claim of each of them as the warm
 * pool's tasks. Every task it starts is stopped in `finally`, also on failure and on abort
 * (Ctrl-C); a last ListTasks on the run's own `startedBy` catches a task whose RunTask answer
 * was lost.
 */
export async function runEcsBench(plan: EcsBenchPlan, deps: EcsBenchDeps, signal: AbortSignal): Promise<EcsBenchRun> {
  const { driver } = plan
  const { ecs } = deps
  const counter = new CallCounter()
  const started = new Set<string>()
  const cold: WarmTask[] = []
  const warm: WarmSample[] = []
  const total = plan.warmup + plan.samples
  let failure: unknown
  try {
    for (let i = 0; i < total && !signal.aborted; i++) {
      cold.push(await coldStart(plan, deps, counter, started, `${driver.options.startedBy}-${i}`, signal))
      deps.progress?.(`  cold ${i + 1}/${total}: ${Math.round(cold.at(-1)!.sample.totalMs)} ms`)
    }
    for (let i = 0; i < cold.length && !signal.aborted; i++) {
      warm.push(await claimWarm(plan, deps, cold[i]!, signal))
      deps.progress?.(`  warm claim ${i + 1}/${cold.length}: ${Math.round(warm.at(-1)!.totalMs)} ms`)
    }
  } catch (err) {
    if (!signal.aborted) failure = err
  }
  // Runs after success, failure and abort alike: nothing above rethrows.
  const cleanup = await stopAll(plan, ecs, counter, started)
  const run: EcsBenchRun = {
    cold: cold.slice(plan.warmup).map((t) => t.sample), warm: warm.slice(plan.warmup), warmup: plan.warmup,
    partial: signal.aborted || failure !== undefined, calls: counter.total, cleanup,
  }
  if (failure !== undefined) throw new EcsBenchFailed((failure as Error).message ?? String(failure), run, { cause: failure })
  return run
}

/** A task the cold phase left RUNNING with its agent ready: the warm pool of the claim phase. */
interface WarmTask {
  readonly sample: ColdSample
  readonly host: string
  readonly port: number
}

async function coldStart(plan: EcsBenchPlan, deps: EcsBenchDeps, counter: CallCounter, started: Set<string>, id: string, signal: AbortSignal): Promise<WarmTask> {
  const { driver } = plan
  const { ecs, clock } = deps
  const { cluster, agentPort, agentKey } = driver.options
  const spec = { id, pool: 'bench', limits: { pids: 256, memoryMb: 1024, cpus: 0.5 }, network: false, helloTimeoutMs: plan.taskTimeoutMs }
  const input = driver.runTaskInput(spec, Date.now())
  // The task's own size comes from the task definition: the bench does not override it.
  for (const o of input.overrides?.containerOverrides ?? []) {
    delete o.cpu
    delete o.memory
  }
  const t0 = clock.now()
  // No abort signal: once RunTask is sent, its answer is needed to stop the task.
  const out = await counter.send(() => ecs.send(new RunTaskCommand(input)))
  const taskArn = out.tasks?.[0]?.taskArn
  if (!taskArn) throw runTaskFailure(id, out.failures ?? [])
  started.add(taskArn)
  const runTaskMs = clock.now() - t0
  let task: Task | undefined
  for (;;) {
    signal.throwIfAborted()
    task = (await counter.send(() => ecs.send(new DescribeTasksCommand({ cluster, tasks: [taskArn], include: ['TAGS'] }), { abortSignal: signal }))).tasks?.[0]
    if (task?.lastStatus === 'STOPPED' || task?.desiredStatus === 'STOPPED') throw stoppedBeforeHello(id, task)
    if (task?.lastStatus === 'RUNNING' && handleOf(task, agentPort)) break
    if (clock.now() - t0 > plan.taskTimeoutMs) throw new Error(`task ${taskArn} not RUNNING within ${plan.taskTimeoutMs} ms (last status ${task?.lastStatus ?? 'unknown'})`)
    await clock.sleep(plan.pollMs, signal)
  }
  const runningAt = clock.now()
  const address = handleOf(task, agentPort)!.address
  if (address.kind !== 'tcp') throw new Error(`task ${taskArn} has no TCP address`)
  const remaining = Math.max(1, plan.taskTimeoutMs - (runningAt - t0))
  const channel = await deps.dial({ host: address.host, port: address.port, sandboxId: id, key: taskKey(agentKey, id) }, Date.now() + remaining)
  const helloAt = clock.now()
  channel.close()
  if (channel.hello.sandboxId !== id) throw new Error(`task ${taskArn}: the agent says it is ${JSON.stringify(channel.hello.sandboxId)}, not ${id}`)
  const totalMs = helloAt - t0
  const ecsStartMs = task.createdAt && task.startedAt ? task.startedAt.getTime() - task.createdAt.getTime() : undefined
  const sample: ColdSample = {
    id, taskArn, runTaskMs, runningMs: runningAt - t0, helloMs: helloAt - runningAt, totalMs,
    ...(ecsStartMs === undefined ? {} : { ecsStartMs }),
    ...pullShareOf(task, totalMs),
  }
  return { sample, host: address.host, port: address.port }
}

/** What the gateway does for a warm claim when it holds no open channel: connect (TLS-PSK + hello), claim, ready. */
async function claimWarm(plan: EcsBenchPlan, deps: EcsBenchDeps, { sample, host, port }: WarmTask, signal: AbortSignal): Promise<WarmSample> {
  signal.throwIfAborted()
  const { clock } = deps
  const t0 = clock.now()
  const channel = await deps.dial({ host, port, sandboxId: sample.id, key: taskKey(plan.driver.options.agentKey, sample.id) }, Date.now() + CLAIM_TIMEOUT_MS)
  const connected = clock.now()
  try {
    await channel.claim({ sessionId: `${sample.id}-claim`, user: plan.user, home: ECS_WORKSPACE_HOME, env: {}, secrets: {} }, CLAIM_TIMEOUT_MS)
  } finally {
    channel.close()
  }
  const ready = clock.now()
  return { id: sample.id, connectMs: connected - t0, claimMs: ready - connected, totalMs: ready - t0 }
}

/** StopTask for every task the run started, then for any other task with the run's startedBy. */
async function stopAll(plan: EcsBenchPlan, ecs: ECSClient, counter: CallCounter, started: Set<string>): Promise<EcsBenchRun['cleanup']> {
  const { cluster, startedBy } = plan.driver.options
  const failed: string[] = []
  let stopped = 0
  const stop = async (task: string) => {
    try {
      await counter.send(() => ecs.send(new StopTaskCommand({ cluster, task, reason: 'infra-lab: bench ecs cleanup' })))
      stopped++
    } catch (err) {
      const e = err as Error
      if (e.name === 'InvalidParameterException' && /not found|does not exist/i.test(e.message)) stopped++
      else failed.push(`${task} (${e.name}: ${e.message})`)
    }
  }
  for (const arn of started) await stop(arn)
  try {
    const listed = await counter.send(() => ecs.send(new ListTasksCommand({ cluster, startedBy })))
    for (const arn of listed.taskArns ?? []) if (!started.has(arn)) await stop(arn)
  } catch (err) {
    failed.push(`ListTasks startedBy=${startedBy} (${(err as Error).message}): check for leftover tasks by hand`)
  }
  return { stopped, failed }
}
