import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import {
  AutoScalingClient, DescribeAutoScalingGroupsCommand, DescribeWarmPoolCommand, SetDesiredCapacityCommand, type Instance, type SetDesiredCapacityCommandInput,
} from '@aws-sdk/client-auto-scaling'
import {
  DescribeClustersCommand, DescribeContainerInstancesCommand, DescribeTasksCommand, ECSClient, ListContainerInstancesCommand, StartTaskCommand, StopTaskCommand,
  type StartTaskCommandInput, type Task,
} from '@aws-sdk/client-ecs'
import { mockClient } from 'aws-sdk-client-mock'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { BenchClock } from '../src/bench/ecs-calls.ts'
import { benchWarmPoolCommand, type BenchWarmPoolFlags } from '../src/bench/warm-pool-command.ts'

process.env.AWS_EC2_METADATA_DISABLED = 'true'
const FAKE_CREDS = { AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKEFAKE', AWS_SECRET_ACCESS_KEY: 'fake', AWS_REGION: 'eu-west-1', AWS_EC2_METADATA_DISABLED: 'true' }
const credentials = { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake' }

/** A fake clock: sleeping advances it, so polling loops run at once and the times are exact. */
function fakeClock(): BenchClock & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    sleep: async (ms: number, signal: AbortSignal) => {
      signal.throwIfAborted()
      // Sleepers that start together wake together (the first task's two polling loops).
      const wake = c.t + ms
      await Promise.resolve()
      c.t = Math.max(c.t, wake)
    },
  }
  return c
}

/**
 * An Auto Scaling group with a warm pool and an ECS cluster, in memory. An instance leaving the
 * warm pool is InService after 2 polls and registered after 4 (of 1 s); a cold one after 10 and
 * 20. Tasks start 1 s after StartTask; the pre-pulled image pulls in 0 s, the other in 44 s.
 */
class FakeAws {
  readonly autoscaling = new AutoScalingClient({ region: 'eu-west-1', credentials })
  readonly ecs = new ECSClient({ region: 'eu-west-1', credentials })
  readonly asMock = mockClient(this.autoscaling)
  readonly ecsMock = mockClient(this.ecs)
  desired = 1
  readonly max: number
  inService: { id: string; since: number; warm: boolean }[] = [{ id: 'i-base', since: -1e9, warm: false }]
  warmPool: string[] = ['i-warm1']
  readonly tasks = new Map<string, Task>()
  private nextCold = 1
  onSetDesired?: (n: number) => void

  constructor(private readonly clock: { t: number }, max = 4) {
    this.max = max
    this.asMock.on(DescribeAutoScalingGroupsCommand).callsFake(() => ({
      AutoScalingGroups: [{
        AutoScalingGroupName: 'lab-asg', DesiredCapacity: this.desired, MaxSize: this.max, MinSize: 0,
        Instances: this.inService.map((i): Instance => ({ InstanceId: i.id, LifecycleState: this.clock.t - i.since >= (i.warm ? 2000 : 10_000) ? 'InService' : 'Pending' } as Instance)),
      }],
    }))
    this.asMock.on(DescribeWarmPoolCommand).callsFake(() => ({
      WarmPoolConfiguration: { PoolState: 'Stopped', MinSize: 1 },
      Instances: this.warmPool.map((id) => ({ InstanceId: id, LifecycleState: 'Warmed:Stopped' })),
    }))
    this.asMock.on(SetDesiredCapacityCommand).callsFake((input: SetDesiredCapacityCommandInput) => {
      const n = input.DesiredCapacity!
      while (this.inService.length < n) {
        const warm = this.warmPool.shift()
        this.inService.push({ id: warm ?? `i-cold${this.nextCold++}`, since: this.clock.t, warm: warm !== undefined })
      }
      while (this.inService.length > n) {
        const gone = this.inService.pop()!
        if (gone.warm) this.warmPool.push(gone.id) // reuse on scale-in
      }
      this.desired = n
      this.onSetDesired?.(n)
      return {}
    })
    this.ecsMock.on(DescribeClustersCommand).resolves({ clusters: [{ clusterName: 'lab', status: 'ACTIVE' }] })
    this.ecsMock.on(ListContainerInstancesCommand).callsFake((input: { filter: string }) => {
      const id = /^ec2InstanceId == (i-[\w]+)$/.exec(input.filter)?.[1]
      const i = this.inService.find((x) => x.id === id)
      return { containerInstanceArns: i && this.clock.t - i.since >= (i.warm ? 4000 : 20_000) ? [`arn:ci/${i.id}`] : [] }
    })
    this.ecsMock.on(DescribeContainerInstancesCommand).callsFake((input: { containerInstances: string[] }) => ({
      containerInstances: input.containerInstances.map((arn) => ({ containerInstanceArn: arn, ec2InstanceId: arn.split('/')[1], status: 'ACTIVE', agentConnected: true })),
    }))
    this.ecsMock.on(StartTaskCommand).callsFake((input: StartTaskCommandInput) => {
      const arn = `arn:task/${this.tasks.size + 1}`
      const created = 1_700_000_000_000 + this.clock.t
      const pullMs = input.taskDefinition === 'lab-sandbox:unpulled' ? 44_000 : 0
      this.tasks.set(arn, {
        taskArn: arn, taskDefinitionArn: input.taskDefinition, lastStatus: 'PENDING', createdAt: new Date(created),
        pullStartedAt: new Date(created + 500), pullStoppedAt: new Date(created + 500 + pullMs), startedAt: undefined,
      })
      const t0 = this.clock.t
      const task = this.tasks.get(arn)!
      Object.defineProperty(task, 'ready', { value: t0 + 1000 + pullMs, enumerable: false })
      return { tasks: [{ taskArn: arn }] }
    })
    this.ecsMock.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
      tasks: input.tasks.map((arn) => {
        const t = this.tasks.get(arn)!
        const ready = (t as { ready?: number }).ready!
        if (t.lastStatus !== 'STOPPED' && this.clock.t >= ready) {
          t.lastStatus = 'RUNNING'
          t.startedAt = new Date(t.createdAt!.getTime() + (ready - (t.createdAt!.getTime() - 1_700_000_000_000)))
        }
        return { ...t }
      }),
    }))
    this.ecsMock.on(StopTaskCommand).callsFake((input: { task: string }) => {
      this.tasks.get(input.task)!.lastStatus = 'STOPPED'
      return {}
    })
  }

  desiredCalls(): number[] {
    return this.asMock.commandCalls(SetDesiredCapacityCommand).map((c) => c.args[0].input.DesiredCapacity!)
  }
}

const sink = (onLine?: (s: string) => void) => {
  let text = ''
  return { stream: new Writable({ write(c, _e, cb) { text += String(c); onLine?.(String(c)); cb() } }), text: () => text }
}

const flags = (o: Partial<BenchWarmPoolFlags> = {}): BenchWarmPoolFlags => ({
  asg: 'lab-asg', cluster: 'lab', taskDefinition: 'lab-sandbox:3', unpulledTaskDefinition: 'lab-sandbox:unpulled', subnets: 'subnet-a',
  securityGroups: 'sg-tasks', modes: 'warm,cold', trials: 1, pollMs: 1000, timeoutS: 600, out: 'out', ...o,
})

describe('bench warm-pool', () => {
  let base: string
  let clock: ReturnType<typeof fakeClock>
  let aws: FakeAws
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'bench-warm-pool-test-'))
    clock = fakeClock()
    aws = new FakeAws(clock)
  })
  afterEach(() => {
    aws.asMock.restore()
    aws.ecsMock.restore()
    rmSync(base, { recursive: true, force: true })
  })

  function io(env: Record<string, string> = FAKE_CREDS, onErr?: (s: string) => void) {
    const stdout = sink()
    const stderr = sink(onErr)
    return { io: { cwd: base, env: { HOME: base, ...env }, stdout: stdout.stream, stderr: stderr.stream }, stdout, stderr }
  }
  const run = (t: ReturnType<typeof io>, f = flags(), signal = new AbortController().signal) =>
    benchWarmPoolCommand(f, t.io, signal, { autoscaling: aws.autoscaling, ecs: aws.ecs, clock, runId: 'infra-lab-bench-w1' })
  const result = () => JSON.parse(readFileSync(join(base, 'out', 'warm-pool-stopped.json'), 'utf8'))

  it('without credentials says so, exits non-zero and calls nothing', async () => {
    const t = io({ AWS_EC2_METADATA_DISABLED: 'true' })
    expect(await run(t)).toBe(1)
    expect(t.stderr.text()).toContain('infra-lab bench warm-pool: no AWS credentials')
    expect(aws.asMock.calls()).toHaveLength(0)
    expect(aws.ecsMock.calls()).toHaveLength(0)
    expect(existsSync(join(base, 'out'))).toBe(false)
  })

  it('refuses a missing --asg or a bad --modes with exit 2', async () => {
    const t = io()
    expect(await run(t, flags({ asg: undefined, modes: 'lukewarm' }))).toBe(2)
    expect(t.stderr.text()).toMatch(/--asg <name> is required/)
    expect(t.stderr.text()).toMatch(/--modes must be warm, cold/)
  })

  it('times a warm and a cold scale-out to ECS registration and the first tasks, then restores the desired capacity', async () => {
    const t = io()
    expect(await run(t)).toBe(0)
    // warm: +1 (the warm instance), back to 1; cold: warm pool (1) + 1, back to 1
    expect(aws.desiredCalls()).toEqual([2, 1, 3, 1])
    expect(aws.asMock.commandCalls(SetDesiredCapacityCommand)[0]!.args[0].input).toEqual({ AutoScalingGroupName: 'lab-asg', DesiredCapacity: 2, HonorCooldown: false })
    expect(aws.ecsMock.commandCalls(ListContainerInstancesCommand)[0]!.args[0].input).toEqual({ cluster: 'lab', filter: 'ec2InstanceId == i-warm1' })
    const starts = aws.ecsMock.commandCalls(StartTaskCommand).map((c) => c.args[0].input)
    expect(starts.map((s) => [s.taskDefinition, s.containerInstances])).toEqual([
      ['lab-sandbox:3', ['arn:ci/i-warm1']], ['lab-sandbox:unpulled', ['arn:ci/i-warm1']],
      ['lab-sandbox:3', ['arn:ci/i-cold1']], ['lab-sandbox:unpulled', ['arn:ci/i-cold1']],
    ])
    expect(starts[0]).toMatchObject({
      cluster: 'lab', startedBy: 'infra-lab-bench-w1',
      networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-a'], securityGroups: ['sg-tasks'], assignPublicIp: 'DISABLED' } },
    })
    expect(starts[0]!.overrides!.containerOverrides![0]!.cpu).toBeUndefined()
    expect(aws.ecsMock.commandCalls(StopTaskCommand)).toHaveLength(4)
    expect([...aws.tasks.values()].every((x) => x.lastStatus === 'STOPPED')).toBe(true)

    const r = result()
    expect(r.poolState).toBe('Stopped')
    expect(r.desired).toEqual({ original: 1, restored: 1 })
    const [warm, cold] = r.trials
    expect(warm).toMatchObject({ mode: 'warm', instanceId: 'i-warm1', fromWarmPool: true, inServiceMs: 2000, registeredMs: 4000 })
    expect(cold).toMatchObject({ mode: 'cold', instanceId: 'i-cold1', fromWarmPool: false, inServiceMs: 10_000, registeredMs: 20_000 })
    expect(warm.tasks).toEqual([
      expect.objectContaining({ image: 'pre-pulled', startMs: 1000, ecsStartMs: 1000, pullMs: 0, pullShare: 0 }),
      expect.objectContaining({ image: 'not pre-pulled', startMs: 45_000, ecsStartMs: 45_000, pullMs: 44_000 }),
    ])
    expect(warm.tasks[1].pullShare).toBeCloseTo(44 / 45)
    const row = (mode: string, what: string) => r.rows.find((x: { mode: string; what: string }) => x.mode === mode && x.what === what).ms
    expect(row('cold', 'registered with ECS')).toMatchObject({ n: 1, p50: 20_000 })
    expect(row('warm', 'first task, not pre-pulled: image pull')).toMatchObject({ n: 1, p50: 44_000 })
    expect(t.stdout.text()).toMatch(/warm registered p50 4000 ms \(n=1\), cold registered p50 20000 ms \(n=1\)/)
  })

  it('a failing first task still stops what started and restores the desired capacity (exit 1)', async () => {
    aws.ecsMock.on(StartTaskCommand, { taskDefinition: 'lab-sandbox:unpulled' }).rejects(Object.assign(new Error('No Container Instances were found'), { name: 'InvalidParameterException' }))
    const t = io()
    expect(await run(t, flags({ modes: 'warm' }))).toBe(1)
    expect(t.stderr.text()).toMatch(/bench warm-pool: InvalidParameterException: No Container Instances/)
    expect(aws.desiredCalls()).toEqual([2, 1])
    expect(aws.desired).toBe(1)
    expect([...aws.tasks.values()].every((x) => x.lastStatus === 'STOPPED')).toBe(true)
    expect(result()).toMatchObject({ partial: true, desired: { original: 1, restored: 1 } })
  })

  it('Ctrl-C while waiting for the instance restores the desired capacity and exits 130', async () => {
    const ac = new AbortController()
    aws.onSetDesired = (n) => { if (n === 2) ac.abort() }
    const t = io()
    expect(await run(t, flags(), ac.signal)).toBe(130)
    expect(aws.desiredCalls()).toEqual([2, 1])
    expect(aws.ecsMock.commandCalls(StartTaskCommand)).toHaveLength(0)
    expect(result()).toMatchObject({ partial: true, trials: [], desired: { restored: 1 } })
  })

  it('changes nothing when MaxSize leaves no room for the trial', async () => {
    aws = new FakeAws(clock, 2)
    const t = io()
    expect(await run(t, flags({ modes: 'cold' }))).toBe(1)
    expect(t.stderr.text()).toMatch(/needs desired 3 but MaxSize is 2/)
    expect(aws.desiredCalls()).toEqual([1]) // only the (no-op) restore
    expect(aws.desired).toBe(1)
  })
})
