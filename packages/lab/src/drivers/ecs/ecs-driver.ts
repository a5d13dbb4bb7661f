import { EventEmitter } from 'node:events'
import {
  DescribeClustersCommand, DescribeTasksCommand, ECSClient, ListTasksCommand, RunTaskCommand, StopTaskCommand,
  type RunTaskCommandInput, type Task,
} from '@aws-sdk/client-ecs'
import { isValidUserName } from '@infra-lab/protocol'
import type { Logger } from 'pino'
import type { AgentChannel } from '../channel.ts'
import { DriverError, type SandboxDriver, type SandboxHandle, type SandboxSpec, type WorkspaceBinding } from '../types.ts'
import { ecsCallFailure, runTaskFailure, stopReasonOf, stoppedBeforeHello, type TaskStopReason } from './failures.ts'
import { resolveEcsOptions, type EcsDriverOptions, type ResolvedEcsOptions } from './options.ts'
import { TAG_POOL, TAG_SANDBOX_ID, handleOf, sandboxTags, tagOf } from './task.ts'
import { taskKey, tlsPskDialer, type AgentDialer } from './transport.ts'

const SANDBOX_ID_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/
const DESCRIBE_BATCH = 100
const CONNECT_TIMEOUT_MS = 5_000
/** How long `lostReason` waits for ECS to mark a task stopping (the session service also bounds it). */
export const LOST_REASON_WAIT_MS = 1_500
const LOST_REASON_POLL_MS = 250
/** Stop reasons remembered for `lostReason` after the task left `known`. */
const RECENT_STOPS = 256
/** Placeholder home sent in the claim: the agent replaces it with `<ECS_WORKSPACES_ROOT>/<user>` (docs/security.md). */
export const ECS_WORKSPACE_HOME = '/home/user'
/** The EFS access point in the sandbox task; the agent gives each user a uid and a 0700 directory in it. */
export const ECS_WORKSPACES_ROOT = '/mnt/workspaces'
/** The agent's unix socket inside the task; the TLS bridge relays to it. */
export const ECS_AGENT_SOCKET = '/run/agent/agent.sock'

/** A task of ours that stopped while the gateway knew it (e.g. a Spot interruption). */
export interface TaskStop {
  readonly id: string
  readonly pool: string
  readonly taskArn: string
  readonly reason: TaskStopReason
  readonly detail: string
}

export interface EcsDriverDeps {
  readonly client?: ECSClient
  /** How to reach an agent (default TLS-PSK to the task's private address). */
  readonly dial?: AgentDialer
  /** Overrides the claim-time workspace binding (tests back ECS tasks with local sandboxes). */
  readonly bindWorkspace?: (handle: SandboxHandle, user: string) => Promise<WorkspaceBinding>
}

/**
 * Sandboxes are ECS tasks. Each task carries its sandbox id and pool as tags and a per-task
 * TLS-PSK key in its container overrides; the gateway talks to the agent over TLS on the task's
 * private address. Stateless apart from a cache of task ARNs; `list` rebuilds it after a restart.
 */
export class EcsDriver extends EventEmitter<{ stopped: [TaskStop] }> implements SandboxDriver {
  readonly name = 'ecs' as const
  readonly options: ResolvedEcsOptions
  readonly client: ECSClient
  /** Failed creates by reason since start (capacity errors included). */
  readonly failures: Record<string, number> = {}
  private readonly logger: Logger
  private readonly dial: AgentDialer
  private readonly known = new Map<string, { taskArn: string; pool: string }>()
  private readonly recentStops = new Map<string, TaskStopReason>()

  constructor(options: EcsDriverOptions, private readonly deps: EcsDriverDeps = {}) {
    super()
    this.options = resolveEcsOptions(options)
    this.logger = options.logger.child({ driver: 'ecs' })
    // Standard retry mode: throttling, 5xx and transient errors retried with jittered exponential back-off.
    this.client = deps.client ?? new ECSClient({
      maxAttempts: this.options.maxAttempts, retryMode: 'standard', ...(this.options.region ? { region: this.options.region } : {}),
    })
    this.dial = deps.dial ?? tlsPskDialer
  }

  /** Checks credentials, region and cluster with one DescribeClusters call. */
  async init(): Promise<void> {
    const { cluster } = this.options
    let out
    try {
      out = await this.client.send(new DescribeClustersCommand({ clusters: [cluster] }))
    } catch (err) {
      const e = err as Error
      throw new DriverError('unavailable', `the ecs driver cannot reach ECS: ${e.name}: ${e.message} (set AWS credentials and AWS_REGION, or use --driver local)`, { cause: err })
    }
    const c = out.clusters?.[0]
    if (!c || c.status !== 'ACTIVE') {
      throw new DriverError('unavailable', `ECS cluster ${cluster} is ${c?.status ?? 'not found'}: ${out.failures?.[0]?.reason ?? 'deploy the stack (docs/aws.md)'}`)
    }
  }

  async create(spec: SandboxSpec): Promise<SandboxHandle> {
    const { id } = spec
    if (!SANDBOX_ID_RE.test(id)) throw new DriverError('create_failed', `invalid sandbox id ${JSON.stringify(id)}`)
    const createdAt = Date.now()
    const deadline = createdAt + spec.helloTimeoutMs
    let taskArn: string | undefined
    try {
      const out = await this.call(id, 'RunTask', () => this.client.send(new RunTaskCommand(this.runTaskInput(spec, createdAt))))
      taskArn = out.tasks?.[0]?.taskArn
      if (!taskArn) throw runTaskFailure(id, out.failures ?? [])
      this.known.set(id, { taskArn, pool: spec.pool })
      const task = await this.waitRunning(id, taskArn, deadline)
      const running = handleOf(task, this.options.agentPort)!
      let channel: AgentChannel
      try {
        channel = await this.dialHandle(running, deadline)
      } catch (err) {
        throw new DriverError('hello_timeout', `sandbox ${id}: agent unreachable before the deadline: ${(err as Error).message}`, { cause: err })
      }
      channel.close()
      if (channel.hello.sandboxId !== id) throw new DriverError('create_failed', `sandbox ${id}: agent says it is ${JSON.stringify(channel.hello.sandboxId)}`)
      const handle: SandboxHandle = { ...running, createdAt, startMs: Date.now() - createdAt }
      this.logger.info({ sandboxId: id, pool: spec.pool, taskArn, startMs: handle.startMs, pullMs: handle.meta.pullMs }, 'sandbox created')
      return handle
    } catch (err) {
      const failure = err instanceof DriverError ? err : ecsCallFailure(id, 'create', err)
      this.failures[failure.reason] = (this.failures[failure.reason] ?? 0) + 1
      this.logger.warn({ sandboxId: id, reason: failure.reason, err: failure.message }, 'sandbox create failed')
      if (taskArn) await this.stop(taskArn, 'create failed').catch((e: unknown) => this.logger.error({ sandboxId: id, err: (e as Error).message }, 'StopTask after a failed create failed'))
      this.known.delete(id)
      throw failure
    }
  }

  /** The RunTask request for one sandbox (exported shape is asserted by the tests). */
  runTaskInput(spec: SandboxSpec, createdAt: number): RunTaskCommandInput {
    const o = this.options
    const key = taskKey(o.agentKey, spec.id)
    return {
      cluster: o.cluster,
      taskDefinition: o.taskDefinition,
      count: 1,
      // Idempotent: a retried RunTask for the same sandbox never starts a second task.
      clientToken: spec.id,
      startedBy: o.startedBy,
      group: `infra-lab:${spec.pool}`,
      ...(o.capacityProviderStrategy.length > 0 ? { capacityProviderStrategy: [...o.capacityProviderStrategy] } : {}),
      networkConfiguration: {
        awsvpcConfiguration: { subnets: [...o.subnets], securityGroups: [...o.securityGroups], assignPublicIp: 'DISABLED' },
      },
      enableECSManagedTags: true,
      tags: sandboxTags(spec.id, spec.pool, createdAt),
      overrides: {
        containerOverrides: [{
          name: o.containerName,
          command: ['--socket', ECS_AGENT_SOCKET, '--sandbox-id', spec.id, '--tls-port', String(o.agentPort), '--workspaces-root', ECS_WORKSPACES_ROOT],
          environment: [{ name: 'AGENT_TLS_PSK', value: key.toString('hex') }],
          cpu: Math.round(spec.limits.cpus * 1024),
          memory: spec.limits.memoryMb,
        }],
      },
    }
  }

  /** One ECS call (the SDK has already retried throttling and 5xx); failures become DriverErrors. */
  private async call<T>(id: string, name: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send()
    } catch (err) {
      throw ecsCallFailure(id, name, err)
    }
  }

  private async waitRunning(id: string, taskArn: string, deadline: number): Promise<Task> {
    for (;;) {
      const out = await this.call(id, 'DescribeTasks', () => this.client.send(new DescribeTasksCommand({ cluster: this.options.cluster, tasks: [taskArn], include: ['TAGS'] })))
      const task = out.tasks?.[0]
      if (task?.lastStatus === 'STOPPED' || task?.desiredStatus === 'STOPPED') throw stoppedBeforeHello(id, task)
      if (task?.lastStatus === 'RUNNING' && handleOf(task, this.options.agentPort)) return task
      if (Date.now() + this.options.pollIntervalMs >= deadline) {
        throw new DriverError('hello_timeout', `sandbox ${id}: task ${taskArn} not RUNNING by the deadline (last status ${task?.lastStatus ?? 'unknown'})`)
      }
      await new Promise((r) => setTimeout(r, this.options.pollIntervalMs))
    }
  }

  private dialHandle(handle: SandboxHandle, deadline: number): Promise<AgentChannel> {
    if (handle.address.kind !== 'tcp') throw new DriverError('unavailable', `sandbox ${handle.id} has no TCP address`)
    const { host, port } = handle.address
    return this.dial({ host, port, sandboxId: handle.id, key: taskKey(this.options.agentKey, handle.id) }, deadline)
  }

  async destroy(id: string): Promise<void> {
    if (!SANDBOX_ID_RE.test(id)) return
    let taskArn = this.known.get(id)?.taskArn
    if (!taskArn) taskArn = (await this.listTasks()).find((t) => tagOf(t, TAG_SANDBOX_ID) === id)?.taskArn
    if (!taskArn) return
    await this.stop(taskArn, 'destroyed')
    this.known.delete(id)
    this.logger.info({ sandboxId: id, taskArn }, 'sandbox destroyed')
  }

  /** StopTask; a task ECS no longer knows counts as stopped. */
  private async stop(taskArn: string, why: string): Promise<void> {
    try {
      await this.client.send(new StopTaskCommand({ cluster: this.options.cluster, task: taskArn, reason: `infra-lab: ${why}` }))
    } catch (err) {
      const e = err as Error
      if (e.name === 'InvalidParameterException' && /not found|does not exist/i.test(e.message)) return
      throw ecsCallFailure(taskArn, 'StopTask', err)
    }
  }

  /** Every task of ours ECS reports as running, with tags (ListTasks pages, DescribeTasks in batches of 100). */
  private async listTasks(): Promise<Task[]> {
    const arns: string[] = []
    let nextToken: string | undefined
    do {
      // startedBy must be the only filter; ECS then lists RUNNING (desired) tasks.
      const page = await this.client.send(new ListTasksCommand({ cluster: this.options.cluster, startedBy: this.options.startedBy, ...(nextToken ? { nextToken } : {}) }))
      arns.push(...(page.taskArns ?? []))
      nextToken = page.nextToken
    } while (nextToken)
    return this.describe(arns)
  }

  private async describe(arns: readonly string[]): Promise<Task[]> {
    const tasks: Task[] = []
    for (let i = 0; i < arns.length; i += DESCRIBE_BATCH) {
      const out = await this.client.send(new DescribeTasksCommand({ cluster: this.options.cluster, tasks: arns.slice(i, i + DESCRIBE_BATCH), include: ['TAGS'] }))
      tasks.push(...(out.tasks ?? []))
    }
    return tasks
  }

  /**
   * Running sandboxes of ours (tagged, RUNNING, with an address). Tasks the driver knew that are
   * gone are reported once as `stopped` events with their reason (Spot interruption and so on).
   */
  async list(): Promise<SandboxHandle[]> {
    const tasks = await this.listTasks()
    const out: SandboxHandle[] = []
    for (const t of tasks) {
      const h = t.lastStatus === 'RUNNING' ? handleOf(t, this.options.agentPort) : undefined
      if (h) {
        out.push(h)
        if (!this.known.has(h.id)) this.known.set(h.id, { taskArn: t.taskArn!, pool: h.pool })
      }
    }
    const listed = new Set(tasks.map((t) => t.taskArn))
    const gone = [...this.known.entries()].filter(([, k]) => !listed.has(k.taskArn))
    if (gone.length > 0) await this.reportStops(gone)
    return out
  }

  private async reportStops(gone: readonly [string, { taskArn: string; pool: string }][]): Promise<void> {
    const byArn = new Map((await this.describe(gone.map(([, k]) => k.taskArn))).map((t) => [t.taskArn, t]))
    for (const [id, k] of gone) {
      const t = byArn.get(k.taskArn)
      if (t && t.lastStatus !== 'STOPPED' && t.desiredStatus !== 'STOPPED') continue // still starting
      this.known.delete(id)
      const reason = t ? stopReasonOf(t) : 'unknown'
      this.recentStops.delete(id)
      this.recentStops.set(id, reason)
      if (this.recentStops.size > RECENT_STOPS) this.recentStops.delete(this.recentStops.keys().next().value!)
      const stop: TaskStop = {
        id, pool: tagOf(t ?? {}, TAG_POOL) ?? k.pool, taskArn: k.taskArn,
        reason, detail: `${t?.stopCode ?? ''} ${t?.stoppedReason ?? 'task no longer known to ECS'}`.trim(),
      }
      if (stop.reason !== 'stopped_by_gateway') this.logger.warn({ sandboxId: id, reason: stop.reason, detail: stop.detail }, 'sandbox task stopped')
      this.emit('stopped', stop)
    }
  }

  async connect(handle: SandboxHandle): Promise<AgentChannel> {
    let channel: AgentChannel
    try {
      channel = await this.dialHandle(handle, Date.now() + CONNECT_TIMEOUT_MS)
    } catch (err) {
      throw new DriverError('unavailable', `sandbox ${handle.id}: cannot reach the agent: ${(err as Error).message}`, { cause: err })
    }
    this.watchRemoteClose(handle.id, channel)
    return channel
  }

  /**
   * When the task ends the channel (a Spot interruption, a crash), asks ECS why and reports it
   * as a `stopped` event at once, instead of at the next `list`. Channels the gateway closes
   * itself cost no call.
   */
  private watchRemoteClose(id: string, channel: AgentChannel): void {
    let closedHere = false
    const close = channel.close.bind(channel)
    channel.close = () => {
      closedHere = true
      close()
    }
    channel.once('close', () => {
      const k = this.known.get(id)
      if (closedHere || !k) return
      this.reportStops([[id, k]]).catch((err: unknown) => this.logger.warn({ sandboxId: id, err: (err as Error).message }, 'cannot ask ECS why a task stopped'))
    })
  }

  /**
   * Why sandbox `id` was lost once its channel closed: 'spot_interruption' when ECS stopped its
   * task with a Spot reason (stopCode `SpotInterruption`), else undefined. Asks DescribeTasks until
   * the task is stopping (ECS sets the stop code with desiredStatus STOPPED) or `waitMs` passed;
   * a stop already seen by `list` or the close watcher costs no call. Never throws.
   */
  async lostReason(id: string, waitMs = LOST_REASON_WAIT_MS): Promise<'spot_interruption' | undefined> {
    const deadline = Date.now() + waitMs
    const spot = (r: TaskStopReason) => (r === 'spot_interruption' ? r : undefined)
    try {
      for (;;) {
        const seen = this.recentStops.get(id)
        if (seen) return spot(seen)
        const taskArn = this.known.get(id)?.taskArn
        if (!taskArn) return undefined
        const [task] = await this.describe([taskArn])
        if (!task) return undefined
        if (task.lastStatus === 'STOPPED' || task.desiredStatus === 'STOPPED') return spot(stopReasonOf(task))
        const poll = Math.min(this.options.pollIntervalMs, LOST_REASON_POLL_MS)
        if (Date.now() + poll >= deadline) return undefined
        await new Promise((r) => setTimeout(r, poll))
      }
    } catch (err) {
      this.logger.warn({ sandboxId: id, err: (err as Error).message }, 'cannot ask ECS why a task was lost')
      return undefined
    }
  }

  /**
   * On ECS the agent itself binds the user's directory of the EFS access point at claim time
   * (docs/security.md); the driver only checks the user name and says where it appears.
   */
  async bindWorkspace(handle: SandboxHandle, user: string): Promise<WorkspaceBinding> {
    if (!isValidUserName(user)) throw new DriverError('unavailable', `invalid user name ${JSON.stringify(user)}`)
    if (this.deps.bindWorkspace) return this.deps.bindWorkspace(handle, user)
    return { home: ECS_WORKSPACE_HOME }
  }

  /** Stops every task this driver's `startedBy` ever started on the cluster. */
  async teardown(): Promise<void> {
    for (const t of await this.listTasks()) if (t.taskArn) await this.stop(t.taskArn, 'teardown')
    this.known.clear()
  }
}
