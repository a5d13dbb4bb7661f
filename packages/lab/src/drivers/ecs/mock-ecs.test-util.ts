import { randomInt } from 'node:crypto'
import type { Server } from 'node:tls'
import {
  DescribeClustersCommand, DescribeTasksCommand, ECSClient, ListTasksCommand, RunTaskCommand, StopTaskCommand,
  type RunTaskCommandInput, type Task,
} from '@aws-sdk/client-ecs'
import { mockClient } from 'aws-sdk-client-mock'
import { startTlsBridge } from '../../../../agent/src/tls-bridge.ts'
import { TAG_SANDBOX_ID } from './task.ts'

// The SDK must never look for credentials or instance metadata on the network.
process.env.AWS_EC2_METADATA_DISABLED = 'true'
process.env.AWS_ACCESS_KEY_ID ??= 'AKIAFAKEFAKEFAKEFAKE'
process.env.AWS_SECRET_ACCESS_KEY ??= 'fake-secret-access-key'
process.env.AWS_REGION ??= 'eu-west-1'

/** What runs a mocked task: starts an agent on a unix socket, stops it. */
export interface TaskBackend {
  start(sandboxId: string): Promise<{ socketPath: string }>
  stop(sandboxId: string): Promise<void>
}

interface MockTask {
  task: Task
  bridge?: Server
}

export interface MockEcsOptions {
  /** ListTasks page size (small, so tests page). */
  pageSize?: number
}

/**
 * A mocked ECS control plane (aws-sdk-client-mock) whose tasks are real agents: RunTask starts
 * the backend's agent and puts the agent's TLS-PSK bridge (the one the ECS agent runs) in front
 * of it on a loopback address of its own, 127.a.b.n, as if that were the task's private IP.
 */
export class MockEcs {
  readonly client = new ECSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake' } })
  readonly mock = mockClient(this.client)
  readonly tasks = new Map<string, MockTask>()
  readonly runInputs: RunTaskCommandInput[] = []
  private readonly net = `127.${randomInt(1, 250)}.${randomInt(1, 250)}`
  private nextHost = 2
  private nextArn = 1

  constructor(private readonly backend: TaskBackend, readonly cluster = 'lab', private readonly opts: MockEcsOptions = {}) {
    this.mock.on(DescribeClustersCommand).resolves({ clusters: [{ clusterName: cluster, status: 'ACTIVE' }] })
    this.mock.on(RunTaskCommand).callsFake((input: RunTaskCommandInput) => this.runTask(input))
    this.mock.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
      tasks: input.tasks.flatMap((arn) => { const t = this.tasks.get(arn); return t ? [structuredClone(t.task)] : [] }),
      failures: input.tasks.filter((arn) => !this.tasks.has(arn)).map((arn) => ({ arn, reason: 'MISSING' })),
    }))
    this.mock.on(ListTasksCommand).callsFake((input: { startedBy?: string; nextToken?: string }) => {
      const all = [...this.tasks.values()].filter((t) => t.task.desiredStatus === 'RUNNING' && t.task.startedBy === input.startedBy).map((t) => t.task.taskArn!)
      const size = this.opts.pageSize ?? 2
      const from = Number(input.nextToken ?? 0)
      const next = from + size < all.length ? String(from + size) : undefined
      return { taskArns: all.slice(from, from + size), ...(next ? { nextToken: next } : {}) }
    })
    this.mock.on(StopTaskCommand).callsFake(async (input: { task: string; reason?: string }) => {
      const t = this.tasks.get(input.task)
      if (!t) throw Object.assign(new Error('The referenced task was not found.'), { name: 'InvalidParameterException' })
      await this.stopTask(t, 'UserInitiated', input.reason ?? 'stopped')
      return { task: t.task }
    })
  }

  private runTask(input: RunTaskCommandInput) {
    this.runInputs.push(structuredClone(input))
    const override = input.overrides!.containerOverrides![0]!
    const id = input.tags!.find((t) => t.key === TAG_SANDBOX_ID)!.value!
    const psk = Buffer.from(override.environment!.find((e) => e.name === 'AGENT_TLS_PSK')!.value!, 'hex')
    const port = Number(override.command![override.command!.indexOf('--tls-port') + 1])
    const arn = `arn:aws:ecs:eu-west-1:123456789012:task/${this.cluster}/${(this.nextArn++).toString(16).padStart(32, '0')}`
    const host = `${this.net}.${this.nextHost++}`
    const t: MockTask = {
      task: {
        taskArn: arn, clusterArn: `arn:aws:ecs:eu-west-1:123456789012:cluster/${this.cluster}`, lastStatus: 'PROVISIONING', desiredStatus: 'RUNNING',
        startedBy: input.startedBy, group: input.group, tags: input.tags, createdAt: new Date(), availabilityZone: 'eu-west-1a',
        capacityProviderName: input.capacityProviderStrategy?.[0]?.capacityProvider, attachments: [], containers: [{ name: override.name }],
      },
    }
    this.tasks.set(arn, t)
    void (async () => {
      try {
        const { socketPath } = await this.backend.start(id)
        const { server } = await startTlsBridge({ host, port, socketPath, identity: id, psk })
        t.bridge = server
        if (t.task.desiredStatus === 'STOPPED') {
          server.close()
          return await this.backend.stop(id)
        }
        t.task.attachments = [{ type: 'ElasticNetworkInterface', status: 'ATTACHED', details: [{ name: 'privateIPv4Address', value: host }] }]
        t.task.pullStartedAt = new Date(Date.now() - 5)
        t.task.pullStoppedAt = new Date()
        t.task.lastStatus = 'RUNNING'
      } catch (err) {
        await this.stopTask(t, 'TaskFailedToStart', `backend failed: ${(err as Error).message}`)
      }
    })()
    return { tasks: [structuredClone(t.task)], failures: [] }
  }

  /** Stops a task the way ECS would after a Spot interruption notice. */
  async interrupt(arn: string): Promise<void> {
    await this.stopTask(this.tasks.get(arn)!, 'SpotInterruption', 'Your Spot Task was interrupted.')
  }

  /** Stops a task the way ECS does when its essential container exits (a crash, not Spot). */
  async crash(arn: string): Promise<void> {
    await this.stopTask(this.tasks.get(arn)!, 'EssentialContainerExited', 'Essential container in task exited')
  }

  private async stopTask(t: MockTask, stopCode: Task['stopCode'], reason: string): Promise<void> {
    if (t.task.lastStatus === 'STOPPED') return
    t.task.desiredStatus = 'STOPPED'
    t.task.lastStatus = 'STOPPED'
    t.task.stopCode = stopCode
    t.task.stoppedReason = reason
    t.bridge?.close()
    await this.backend.stop(t.task.tags!.find((x) => x.key === TAG_SANDBOX_ID)!.value!)
  }

  /**
   * Stops everything (test cleanup). Later calls are refused here rather than handed to the
   * real SDK, which would go to the network.
   */
  async close(): Promise<void> {
    for (const t of this.tasks.values()) await this.stopTask(t, 'UserInitiated', 'test cleanup')
    this.mock.reset()
    this.mock.onAnyCommand().rejects(Object.assign(new Error('MockEcs is closed'), { name: 'MockEcsClosed' }))
  }
}
