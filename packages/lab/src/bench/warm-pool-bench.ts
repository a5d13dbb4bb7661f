import {
  DescribeAutoScalingGroupsCommand, DescribeWarmPoolCommand, SetDesiredCapacityCommand, type AutoScalingClient, type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling'
import {
  DescribeContainerInstancesCommand, DescribeTasksCommand, ListContainerInstancesCommand, StartTaskCommand, StopTaskCommand,
  type ECSClient, type StartTaskCommandInput, type Task,
} from '@aws-sdk/client-ecs'
import type { EcsDriver } from '../drivers/ecs/ecs-driver.ts'
import { CallCounter, type BenchClock, type CallCounts } from './ecs-calls.ts'
import { pullShareOf } from './ecs-bench.ts'

export type ScaleOutMode = 'warm' | 'cold'
/** Warm pool lifecycle states in which an instance is ready to leave the pool. */
const WARMED_READY = new Set(['Warmed:Stopped', 'Warmed:Hibernated', 'Warmed:Running'])

export interface TaskStart {
  readonly image: 'pre-pulled' | 'not pre-pulled'
  readonly taskDefinition: string
  /** StartTask sent -> DescribeTasks shows it started (poll-quantized). */
  readonly startMs: number
  /** ECS's createdAt -> startedAt. */
  readonly ecsStartMs?: number
  readonly pullMs?: number
  readonly pullShare?: number
}

export interface ScaleOutTrial {
  readonly mode: ScaleOutMode
  readonly instanceId: string
  /** Whether the measured instance came out of the warm pool (a cold trial measures one that did not). */
  readonly fromWarmPool: boolean
  /** SetDesiredCapacity -> the instance InService in the Auto Scaling group. */
  readonly inServiceMs: number
  /** SetDesiredCapacity -> its container instance ACTIVE with a connected agent in the cluster. */
  readonly registeredMs: number
  /** The first task(s) on it, started together right after registration. */
  readonly tasks: readonly TaskStart[]
}

export interface WarmPoolPlan {
  readonly asg: string
  /** Gives the cluster, startedBy and the sandbox task's request (network, overrides). */
  readonly driver: EcsDriver
  /** A task definition whose image the user data does not pre-pull (same container name), or none. */
  readonly unpulledTaskDefinition?: string
  readonly modes: readonly ScaleOutMode[]
  readonly trials: number
  readonly pollMs: number
  readonly timeoutMs: number
}

export interface WarmPoolDeps {
  readonly autoscaling: AutoScalingClient
  readonly ecs: ECSClient
  readonly clock: BenchClock
  readonly progress?: (line: string) => void
}

export interface WarmPoolRun {
  readonly poolState: string
  readonly trials: readonly ScaleOutTrial[]
  readonly partial: boolean
  readonly calls: CallCounts
  /** The desired capacity found and the one left behind (equal unless restoring failed). */
  readonly desired: { readonly original: number; readonly restored: number | undefined }
  readonly cleanup: { readonly stopped: number; readonly failed: readonly string[] }
}

export class WarmPoolBenchFailed extends Error {
  override readonly name = 'WarmPoolBenchFailed'
  constructor(message: string, readonly run: WarmPoolRun, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/**
 * Scales the Auto Scaling group out and times the new instance until ECS has it registered, then
 * its first task start. A warm trial adds one instance (it leaves the warm pool); a cold trial
 * adds one more than the warm pool holds, so the last one launches cold. After every trial, and
 * also when it fails or is aborted (Ctrl-C), the tasks it started are stopped and the original
 * desired capacity is set again.
 */
export async function runWarmPoolBench(plan: WarmPoolPlan, deps: WarmPoolDeps, signal: AbortSignal): Promise<WarmPoolRun> {
  const aws = new Aws(plan, deps, new CallCounter())
  const first = await aws.group()
  const original = first.DesiredCapacity ?? 0
  const poolState = (await aws.warmPool()).state
  const trials: ScaleOutTrial[] = []
  const started = new Set<string>()
  const cleanup = { stopped: 0, failed: [] as string[] }
  let restored: number | undefined = original
  let failure: unknown
  try {
    for (let i = 0; i < plan.trials && !signal.aborted; i++) {
      for (const mode of plan.modes) {
        if (signal.aborted) break
        try {
          trials.push(await trial(aws, mode, original, started, signal))
          const t = trials.at(-1)!
          deps.progress?.(`  ${mode} ${i + 1}/${plan.trials}: ${t.instanceId} registered in ${Math.round(t.registeredMs)} ms`)
        } finally {
          await aws.stopTasks(started, cleanup)
          restored = await aws.restore(original, cleanup)
        }
      }
    }
  } catch (err) {
    if (!signal.aborted) failure = err
  }
  // A restore that failed after a trial is tried once more.
  if (restored === undefined) restored = await aws.restore(original, cleanup)
  const run: WarmPoolRun = {
    poolState, trials, partial: signal.aborted || failure !== undefined, calls: aws.counter.total,
    desired: { original, restored }, cleanup,
  }
  if (failure !== undefined) throw new WarmPoolBenchFailed((failure as Error).message ?? String(failure), run, { cause: failure })
  return run
}

async function trial(aws: Aws, mode: ScaleOutMode, original: number, started: Set<string>, signal: AbortSignal): Promise<ScaleOutTrial> {
  const { plan, clock } = aws
  let warm = await aws.warmPool()
  if (mode === 'warm') {
    // The previous trial's instance goes back to the pool, or the pool launches a replacement: wait for it.
    const until = clock.now() + plan.timeoutMs
    while (warm.ready.length === 0) {
      if (clock.now() > until) throw new Error(`the warm pool of ${plan.asg} has no ready instance after ${plan.timeoutMs} ms`)
      await clock.sleep(plan.pollMs, signal)
      warm = await aws.warmPool()
    }
  }
  const group = await aws.group()
  const before = new Set((group.Instances ?? []).map((i) => i.InstanceId!))
  const step = mode === 'warm' ? 1 : warm.all.size + 1
  const target = original + step
  if (target > (group.MaxSize ?? 0)) {
    throw new Error(`${plan.asg}: a ${mode} trial needs desired ${target} but MaxSize is ${group.MaxSize}; raise asgMax (docs/aws.md)`)
  }
  const t0 = clock.now()
  await aws.setDesired(target)
  let measured: string | undefined
  let inServiceAt: number | undefined
  let containerInstanceArn: string | undefined
  for (;;) {
    signal.throwIfAborted()
    const now = (await aws.group()).Instances ?? []
    const fresh = now.filter((i) => !before.has(i.InstanceId!))
    const candidate = fresh.find((i) => (mode === 'warm' ? warm.all.has(i.InstanceId!) : !warm.all.has(i.InstanceId!)))
    measured ??= candidate?.InstanceId
    if (measured && inServiceAt === undefined && now.find((i) => i.InstanceId === measured)?.LifecycleState === 'InService') inServiceAt = clock.now()
    if (measured) containerInstanceArn = await aws.registered(measured)
    if (containerInstanceArn) break
    if (clock.now() - t0 > plan.timeoutMs) throw new Error(`${plan.asg}: no new ${mode} instance registered with ECS within ${plan.timeoutMs} ms (instance ${measured ?? 'not seen yet'})`)
    await clock.sleep(plan.pollMs, signal)
  }
  const registeredAt = clock.now()
  const defs: [TaskStart['image'], string][] = [['pre-pulled', plan.driver.options.taskDefinition]]
  if (plan.unpulledTaskDefinition) defs.push(['not pre-pulled', plan.unpulledTaskDefinition])
  const tasks = await Promise.all(defs.map(([image, td], k) => aws.firstTask(image, td, containerInstanceArn, `${measured}-${k}`, started, signal)))
  return { mode, instanceId: measured!, fromWarmPool: warm.all.has(measured!), inServiceMs: (inServiceAt ?? registeredAt) - t0, registeredMs: registeredAt - t0, tasks }
}

/** The AWS calls of the benchmark, each counted. */
class Aws {
  readonly clock: BenchClock
  constructor(readonly plan: WarmPoolPlan, private readonly deps: WarmPoolDeps, readonly counter: CallCounter) {
    this.clock = deps.clock
  }

  private get cluster(): string {
    return this.plan.driver.options.cluster
  }

  async group(): Promise<AutoScalingGroup> {
    const out = await this.counter.send(() => this.deps.autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [this.plan.asg] })))
    const g = out.AutoScalingGroups?.[0]
    if (!g) throw new Error(`no Auto Scaling group named ${this.plan.asg} (the stack's ShellCluster output)`)
    return g
  }

  /** The warm pool's instances: all of them, and those ready to leave it. */
  async warmPool(): Promise<{ state: string; all: Set<string>; ready: string[] }> {
    const out = await this.counter.send(() => this.deps.autoscaling.send(new DescribeWarmPoolCommand({ AutoScalingGroupName: this.plan.asg })))
    if (!out.WarmPoolConfiguration) throw new Error(`${this.plan.asg} has no warm pool (deploy with warmPoolSize > 0)`)
    const instances = out.Instances ?? []
    return {
      state: out.WarmPoolConfiguration.PoolState ?? 'Stopped',
      all: new Set(instances.map((i) => i.InstanceId!)),
      ready: instances.filter((i) => WARMED_READY.has(i.LifecycleState ?? '')).map((i) => i.InstanceId!),
    }
  }

  async setDesired(n: number): Promise<void> {
    await this.counter.send(() => this.deps.autoscaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: this.plan.asg, DesiredCapacity: n, HonorCooldown: false })))
  }

  /** The container instance ARN once ECS has the EC2 instance ACTIVE with its agent connected. */
  async registered(instanceId: string): Promise<string | undefined> {
    const list = await this.counter.send(() => this.deps.ecs.send(new ListContainerInstancesCommand({ cluster: this.cluster, filter: `ec2InstanceId == ${instanceId}` })))
    const arns = list.containerInstanceArns ?? []
    if (arns.length === 0) return undefined
    const out = await this.counter.send(() => this.deps.ecs.send(new DescribeContainerInstancesCommand({ cluster: this.cluster, containerInstances: arns })))
    return out.containerInstances?.find((c) => c.ec2InstanceId === instanceId && c.status === 'ACTIVE' && c.agentConnected)?.containerInstanceArn
  }

  /** StartTask on that container instance; waits until ECS says it started (or stopped after starting). */
  async firstTask(image: TaskStart['image'], taskDefinition: string, containerInstance: string, id: string, started: Set<string>, signal: AbortSignal): Promise<TaskStart> {
    const run = this.plan.driver.runTaskInput({ id, pool: 'bench', limits: { pids: 256, memoryMb: 1024, cpus: 0.5 }, network: false, helloTimeoutMs: this.plan.timeoutMs }, Date.now())
    const overrides = { containerOverrides: (run.overrides?.containerOverrides ?? []).map(({ cpu: _c, memory: _m, ...o }) => o) }
    const input: StartTaskCommandInput = {
      cluster: this.cluster, taskDefinition, containerInstances: [containerInstance], startedBy: run.startedBy, group: run.group,
      networkConfiguration: run.networkConfiguration, overrides, tags: run.tags, enableECSManagedTags: true,
    }
    const t0 = this.clock.now()
    const out = await this.counter.send(() => this.deps.ecs.send(new StartTaskCommand(input)))
    const arn = out.tasks?.[0]?.taskArn
    if (!arn) throw new Error(`StartTask ${taskDefinition} on ${containerInstance} failed: ${out.failures?.map((f) => `${f.reason ?? ''} ${f.detail ?? ''}`.trim()).join('; ') || 'no task'}`)
    started.add(arn)
    let task: Task | undefined
    for (;;) {
      signal.throwIfAborted()
      task = (await this.counter.send(() => this.deps.ecs.send(new DescribeTasksCommand({ cluster: this.cluster, tasks: [arn] })))).tasks?.[0]
      if (task?.startedAt || task?.lastStatus === 'RUNNING') break
      if (task?.lastStatus === 'STOPPED') throw new Error(`task ${arn} (${taskDefinition}) stopped before it started: ${task.stopCode ?? ''} ${task.stoppedReason ?? ''}`.trim())
      if (this.clock.now() - t0 > this.plan.timeoutMs) throw new Error(`task ${arn} not started within ${this.plan.timeoutMs} ms`)
      await this.clock.sleep(this.plan.pollMs, signal)
    }
    const startMs = this.clock.now() - t0
    const ecsStartMs = task.createdAt && task.startedAt ? task.startedAt.getTime() - task.createdAt.getTime() : undefined
    const share = pullShareOf(task, ecsStartMs ?? startMs)
    return { image, taskDefinition, startMs, ...(ecsStartMs === undefined ? {} : { ecsStartMs }), ...share }
  }

  async stopTasks(started: Set<string>, cleanup: { stopped: number; failed: string[] }): Promise<void> {
    for (const task of [...started]) {
      try {
        await this.counter.send(() => this.deps.ecs.send(new StopTaskCommand({ cluster: this.cluster, task, reason: 'infra-lab: bench warm-pool cleanup' })))
        cleanup.stopped++
      } catch (err) {
        const e = err as Error
        if (!(e.name === 'InvalidParameterException' && /not found|does not exist/i.test(e.message))) cleanup.failed.push(`task ${task} (${e.name}: ${e.message})`)
      }
      started.delete(task)
    }
  }

  /** Sets the original desired capacity again; undefined when that failed (reported in cleanup). */
  async restore(original: number, cleanup: { failed: string[] }): Promise<number | undefined> {
    try {
      await this.setDesired(original)
      return original
    } catch (err) {
      cleanup.failed.push(`desired capacity of ${this.plan.asg} not restored to ${original} (${(err as Error).message})`)
      return undefined
    }
  }
}
