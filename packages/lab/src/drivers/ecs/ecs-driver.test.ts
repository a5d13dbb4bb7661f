import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import {
  DescribeClustersCommand, DescribeTasksCommand, ECSClient, ListTasksCommand, RunTaskCommand, StopTaskCommand,
} from '@aws-sdk/client-ecs'
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock'
import pino from 'pino'
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { runDriverContract } from '../contract.ts'
import { DriverError, type SandboxSpec } from '../types.ts'
import { EcsDriver, type TaskStop } from './ecs-driver.ts'
import { FakeAgentBackend } from './fake-backend.test-util.ts'
import { MockEcs } from './mock-ecs.test-util.ts'
import type { EcsDriverOptions } from './options.ts'
import { taskKey } from './transport.ts'

const logger = pino({ level: 'silent' })
const agentKey = randomBytes(32)
const options = (o: Partial<EcsDriverOptions> = {}): EcsDriverOptions => ({
  cluster: 'lab', taskDefinition: 'lab-sandbox:3', subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-tasks'],
  capacityProviderStrategy: [{ capacityProvider: 'lab-ec2', weight: 1, base: 0 }], agentKey, pollIntervalMs: 5, agentPort: 17100, logger, ...o,
})
const spec = (id = `ecs-${randomBytes(4).toString('hex')}`, helloTimeoutMs = 5000): SandboxSpec => ({
  id, pool: 'shell', limits: { pids: 128, memoryMb: 512, cpus: 0.5 }, network: false, helloTimeoutMs,
})

describe('EcsDriver against a mocked ECS whose tasks are fake agents', () => {
  let backend: FakeAgentBackend
  let ecs: MockEcs
  let driver: EcsDriver
  beforeEach(() => {
    backend = new FakeAgentBackend()
    ecs = new MockEcs(backend)
    driver = new EcsDriver(options(), { client: ecs.client })
  })
  afterEach(async () => {
    await ecs.close()
    await backend.close()
  })

  it('RunTask carries the capacity provider strategy, private networking, tags, and the per-task key in the overrides', async () => {
    const s = spec()
    const h = await driver.create(s)
    expect(ecs.runInputs).toHaveLength(1)
    const input = ecs.runInputs[0]!
    expect(input).toMatchObject({
      cluster: 'lab', taskDefinition: 'lab-sandbox:3', count: 1, clientToken: s.id, startedBy: 'infra-lab', group: 'infra-lab:shell',
      capacityProviderStrategy: [{ capacityProvider: 'lab-ec2', weight: 1, base: 0 }],
      networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-tasks'], assignPublicIp: 'DISABLED' } },
      enableECSManagedTags: true,
    })
    expect(input.launchType).toBeUndefined() // a capacity provider strategy excludes a launch type
    expect(input.tags).toEqual(expect.arrayContaining([{ key: 'infra-lab:sandbox-id', value: s.id }, { key: 'infra-lab:pool', value: 'shell' }]))
    const override = input.overrides!.containerOverrides![0]!
    expect(override.name).toBe('sandbox')
    expect(override.command).toEqual(['--socket', '/run/agent/agent.sock', '--sandbox-id', s.id, '--tls-port', '17100', '--workspaces-root', '/mnt/workspaces'])
    expect(override.environment).toEqual([{ name: 'AGENT_TLS_PSK', value: taskKey(agentKey, s.id).toString('hex') }])
    expect(override).toMatchObject({ cpu: 512, memory: 512 })
    expect(h).toMatchObject({ id: s.id, pool: 'shell', driver: 'ecs', address: { kind: 'tcp', port: 17100 } })
    expect(h.address.kind === 'tcp' && h.address.host).toMatch(/^127\./)
    expect(h.meta.taskArn).toMatch(/^arn:aws:ecs:/)
    expect(h.meta.pullMs).toBeGreaterThanOrEqual(0)
  })

  it('per-task keys differ, and a channel with another key is refused', async () => {
    expect(taskKey(agentKey, 'a').equals(taskKey(agentKey, 'b'))).toBe(false)
    const h = await driver.create(spec())
    const other = new EcsDriver(options({ agentKey: randomBytes(32) }), { client: ecs.client })
    await expect(other.connect(h)).rejects.toMatchObject({ reason: 'unavailable' })
    const c = await driver.connect(h)
    expect(c.hello.sandboxId).toBe(h.id)
    c.close()
  })

  it('list pages through ListTasks and finds the sandboxes a previous driver started (reconcile)', async () => {
    const ids = await Promise.all([1, 2, 3].map(() => driver.create(spec()).then((h) => h.id)))
    ecs.mock.resetHistory()
    const again = new EcsDriver(options(), { client: ecs.client })
    const listed = await again.list()
    expect(listed.map((h) => h.id).sort()).toEqual([...ids].sort())
    const pages = ecs.mock.commandCalls(ListTasksCommand)
    expect(pages).toHaveLength(2)
    expect(pages[0]!.args[0].input).toEqual({ cluster: 'lab', startedBy: 'infra-lab' })
    expect(pages[1]!.args[0].input).toMatchObject({ nextToken: '2' })
    // the restarted driver can destroy by id, finding the task by its tag
    await again.destroy(ids[0]!)
    expect((await again.list()).map((h) => h.id)).not.toContain(ids[0])
  })

  it('destroy stops the task once and is idempotent, also for tasks ECS no longer knows', async () => {
    const h = await driver.create(spec())
    await driver.destroy(h.id)
    await driver.destroy(h.id)
    await driver.destroy('never-created')
    const stops = ecs.mock.commandCalls(StopTaskCommand)
    expect(stops).toHaveLength(1)
    expect(stops[0]!.args[0].input).toEqual({ cluster: 'lab', task: h.meta.taskArn, reason: 'infra-lab: destroyed' })
    ecs.tasks.clear() // ECS forgot it
    const fresh = await driver.create(spec())
    ecs.tasks.delete(String(fresh.meta.taskArn))
    await expect(driver.destroy(fresh.id)).resolves.toBeUndefined()
  })

  it('a Spot interruption ends the channel and is reported at once as a stop with its reason', async () => {
    const h = await driver.create(spec())
    const c = await driver.connect(h)
    const closed = new Promise((r) => c.once('close', r))
    const stops: TaskStop[] = []
    driver.on('stopped', (s) => stops.push(s))
    await ecs.interrupt(String(h.meta.taskArn))
    await closed
    await vi.waitFor(() => expect(stops).toHaveLength(1)) // from the closed channel, no list needed
    expect(stops).toEqual([expect.objectContaining({ id: h.id, pool: 'shell', reason: 'spot_interruption', detail: 'SpotInterruption Your Spot Task was interrupted.' })])
    expect((await driver.list()).map((x) => x.id)).not.toContain(h.id)
    expect(stops).toHaveLength(1) // reported once
  })

  it('lostReason says spot_interruption for a task ECS stopped with SpotInterruption, also before any close was seen', async () => {
    const h = await driver.create(spec())
    await ecs.interrupt(String(h.meta.taskArn))
    ecs.mock.resetHistory()
    await expect(driver.lostReason(h.id)).resolves.toBe('spot_interruption')
    expect(ecs.mock.commandCalls(DescribeTasksCommand)).toHaveLength(1)
  })

  it('lostReason answers from the stop the close watcher already saw, without another call', async () => {
    const h = await driver.create(spec())
    const c = await driver.connect(h)
    const stops: TaskStop[] = []
    driver.on('stopped', (s) => stops.push(s))
    await ecs.interrupt(String(h.meta.taskArn))
    await vi.waitFor(() => expect(stops).toHaveLength(1))
    ecs.mock.resetHistory()
    await expect(driver.lostReason(h.id)).resolves.toBe('spot_interruption')
    expect(ecs.mock.calls()).toHaveLength(0)
    c.close()
  })

  it('lostReason is undefined for a crash, and for a task still running once the wait is over', async () => {
    const crashed = await driver.create(spec())
    await ecs.crash(String(crashed.meta.taskArn))
    await expect(driver.lostReason(crashed.id)).resolves.toBeUndefined()

    const running = await driver.create(spec())
    ecs.mock.resetHistory()
    await expect(driver.lostReason(running.id, 60)).resolves.toBeUndefined()
    // It polled (every 5 ms here), and only for the 60 ms asked: the 1.5 s default would take
    // about 300 polls. A count, not a duration: a loaded machine polls less often, never more.
    const polls = ecs.mock.commandCalls(DescribeTasksCommand).length
    expect(polls).toBeGreaterThanOrEqual(2)
    expect(polls).toBeLessThanOrEqual(30)
    await expect(driver.lostReason('never-created')).resolves.toBeUndefined()
  })

  it('a channel the gateway closes itself costs no ECS call and reports nothing', async () => {
    const h = await driver.create(spec())
    const c = await driver.connect(h)
    const stops: TaskStop[] = []
    driver.on('stopped', (s) => stops.push(s))
    ecs.mock.resetHistory()
    const closed = new Promise((r) => c.once('close', r))
    c.close()
    await closed
    await new Promise((r) => setTimeout(r, 20))
    expect(ecs.mock.calls()).toHaveLength(0)
    expect(stops).toEqual([])
  })

  it('a create whose task never becomes RUNNING fails with hello_timeout and stops the task', async () => {
    backend.start = () => new Promise(() => undefined)
    await expect(driver.create(spec(undefined, 100))).rejects.toMatchObject({ reason: 'hello_timeout' })
    expect(ecs.mock.commandCalls(StopTaskCommand)).toHaveLength(1)
    expect(driver.failures.hello_timeout).toBe(1)
  })

  it('a task that fails to start is create_failed or exited_early, never left running', async () => {
    backend.start = async () => { throw new Error('CannotPullContainerError: pull image manifest has been retried 5 time(s)') }
    await expect(driver.create(spec())).rejects.toMatchObject({ reason: 'create_failed' })
    expect([...ecs.tasks.values()].every((t) => t.task.lastStatus === 'STOPPED')).toBe(true)
  })
})

describe('EcsDriver error mapping (RunTask failures and exceptions)', () => {
  let client: ECSClient
  let ecs: AwsClientStub<ECSClient>
  beforeEach(() => {
    client = new ECSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake' } })
    ecs = mockClient(client)
  })
  afterEach(() => ecs.restore())

  it.each([
    ['RESOURCE:MEMORY', undefined, 'capacity'],
    ['RESOURCE:CPU', undefined, 'capacity'],
    ['AGENT', undefined, 'capacity'],
    ['Capacity is unavailable at this time. Please try again later or in a different availability zone', undefined, 'capacity'],
    ['RESOURCE:ENI', 'no free ENIs', 'capacity'],
    ['MISSING', undefined, 'create_failed'],
    ['ATTRIBUTE', 'requires ecs.capability.efs', 'create_failed'],
  ])('RunTask failure %s maps to %s and is counted', async (reason, detail, expected) => {
    ecs.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason, ...(detail ? { detail } : {}) }] })
    const driver = new EcsDriver(options(), { client })
    const err = await driver.create(spec()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DriverError)
    expect(err).toMatchObject({ reason: expected })
    expect((err as Error).message).toContain(reason)
    expect(driver.failures[expected]).toBe(1)
    expect(ecs.commandCalls(StopTaskCommand)).toHaveLength(0)
  })

  it.each([
    ['ClusterNotFoundException', 'Cluster not found.', 'unavailable'],
    ['AccessDeniedException', 'not authorized to perform: ecs:RunTask', 'unavailable'],
    ['LimitExceededException', 'too many tasks', 'capacity'],
    ['InvalidParameterException', 'Task definition does not exist', 'create_failed'],
  ])('RunTask exception %s maps to %s', async (name, message, expected) => {
    ecs.on(RunTaskCommand).rejects(Object.assign(new Error(message), { name }))
    const driver = new EcsDriver(options(), { client })
    await expect(driver.create(spec())).rejects.toMatchObject({ reason: expected })
  })

  it.each([
    [{ stopCode: 'SpotInterruption', stoppedReason: 'Your Spot Task was interrupted.' }, 'capacity'],
    [{ stopCode: 'TaskFailedToStart', stoppedReason: 'CannotPullContainerError: pull access denied' }, 'create_failed'],
    [{ stopCode: 'EssentialContainerExited', stoppedReason: 'Essential container in task exited' }, 'exited_early'],
  ] as const)('a task stopped before hello (%o) maps to %s and is stopped', async (stop, expected) => {
    const taskArn = 'arn:aws:ecs:eu-west-1:1:task/lab/abc'
    ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn, lastStatus: 'PROVISIONING' }], failures: [] })
    ecs.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn, lastStatus: 'STOPPED', desiredStatus: 'STOPPED', ...stop }] })
    ecs.on(StopTaskCommand).resolves({})
    await expect(new EcsDriver(options(), { client }).create(spec())).rejects.toMatchObject({ reason: expected })
    expect(ecs.commandCalls(StopTaskCommand)).toHaveLength(1)
  })

  it('list describes tasks in batches of 100', async () => {
    const arns = Array.from({ length: 150 }, (_, i) => `arn:aws:ecs:eu-west-1:1:task/lab/${i}`)
    ecs.on(ListTasksCommand).resolves({ taskArns: arns })
    ecs.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({
      tasks: input.tasks.map((taskArn, i) => ({
        taskArn, lastStatus: 'RUNNING', tags: [{ key: 'infra-lab:sandbox-id', value: `s${i}-${input.tasks.length}` }, { key: 'infra-lab:pool', value: 'p' }],
        attachments: [{ details: [{ name: 'privateIPv4Address', value: '10.0.0.1' }] }],
      })),
    }))
    const listed = await new EcsDriver(options(), { client }).list()
    expect(listed).toHaveLength(150)
    expect(ecs.commandCalls(DescribeTasksCommand).map((c) => c.args[0].input.tasks!.length)).toEqual([100, 50])
  })

  it('list skips tasks without our tags or an address', async () => {
    ecs.on(ListTasksCommand).resolves({ taskArns: ['a', 'b'] })
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        { taskArn: 'a', lastStatus: 'RUNNING', attachments: [{ details: [{ name: 'privateIPv4Address', value: '10.0.0.1' }] }] },
        { taskArn: 'b', lastStatus: 'PENDING', tags: [{ key: 'infra-lab:sandbox-id', value: 'b' }, { key: 'infra-lab:pool', value: 'p' }] },
      ],
    })
    expect(await new EcsDriver(options(), { client }).list()).toEqual([])
  })

  it('init says what to do when there are no credentials, and when the cluster is missing', async () => {
    ecs.on(DescribeClustersCommand).rejectsOnce(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }))
    const driver = new EcsDriver(options(), { client })
    await expect(driver.init()).rejects.toThrow(/cannot reach ECS.*credentials.*AWS credentials and AWS_REGION/)
    ecs.on(DescribeClustersCommand).resolves({ clusters: [], failures: [{ reason: 'MISSING' }] })
    await expect(driver.init()).rejects.toThrow(/cluster lab is not found: MISSING/)
  })

  it('options are checked up front', () => {
    expect(() => new EcsDriver(options({ subnets: [], agentKey: Buffer.alloc(8), cluster: '' }), { client })).toThrow(
      /cluster is required.*at least one subnet.*agentKey must be at least 32 bytes/,
    )
  })
})

describe('EcsDriver retries throttling and 5xx with the SDK retry strategy', () => {
  /** A real ECSClient whose HTTP layer answers from a script: the SDK's retry middleware runs. */
  function scriptedClient(script: { status: number; body: object }[]) {
    const seen: string[] = []
    const client = new ECSClient({
      region: 'eu-west-1', maxAttempts: 4, retryMode: 'standard',
      credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake' },
      requestHandler: {
        handle: async (req: { headers: Record<string, string> }) => {
          seen.push(req.headers['x-amz-target'] ?? '')
          const next = script.shift() ?? { status: 500, body: { __type: 'ServerException', message: 'script ended' } }
          return {
            response: {
              statusCode: next.status, reason: '', headers: { 'content-type': 'application/x-amz-json-1.1' },
              body: Readable.from([Buffer.from(JSON.stringify(next.body))]),
            },
          }
        },
      },
    })
    return { client, seen }
  }
  const throttled = { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } }
  const serverError = { status: 500, body: { __type: 'ServerException', message: 'internal' } }

  it('a throttled then failing-then-good ListTasks succeeds after retries', async () => {
    const { client, seen } = scriptedClient([throttled, serverError, { status: 200, body: { taskArns: [] } }])
    const driver = new EcsDriver(options({ maxAttempts: 4 }), { client })
    await expect(driver.list()).resolves.toEqual([])
    expect(seen).toEqual(Array(3).fill('AmazonEC2ContainerServiceV20141113.ListTasks'))
  })

  it('gives up after maxAttempts and maps the throttling to a DriverError', async () => {
    const { client, seen } = scriptedClient([throttled, throttled, throttled, throttled])
    const err = await new EcsDriver(options(), { client }).create(spec()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DriverError)
    expect((err as Error).message).toMatch(/RunTask: ThrottlingException/)
    expect(seen).toHaveLength(4)
  })
})

// The shared driver contract, against the mocked ECS backed by fake agents.
const backend = new FakeAgentBackend()
const shared = new MockEcs(backend)
runDriverContract('ecs (mocked ECS, fake agents)', async () => new EcsDriver(options(), { client: shared.client }), { helloTimeoutMs: 5000 })
afterAll(async () => {
  await shared.close()
  await backend.close()
})
