import { randomBytes } from 'node:crypto'
import { RunTaskCommand } from '@aws-sdk/client-ecs'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LabClient } from '../src/client/client.ts'
import { EcsDriver, type TaskStop } from '../src/drivers/ecs/ecs-driver.ts'
import { FakeAgentBackend } from '../src/drivers/ecs/fake-backend.test-util.ts'
import { MockEcs } from '../src/drivers/ecs/mock-ecs.test-util.ts'
import { LOST_REASON_TIMEOUT_MS } from '../src/gateway/sessions.ts'
import { TEST_KEY, auth, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'

/**
 * The gateway's warm pool on the ECS driver: a mocked ECS API (aws-sdk-client-mock, fake
 * credentials, no instance metadata) whose tasks are in-process fake agents behind the agent's
 * TLS-PSK bridge. Everything above the ECS API is the real gateway.
 */
describe('gateway with the ECS driver on a mocked ECS keeps a warm pool', () => {
  let backend: FakeAgentBackend
  let ecs: MockEcs
  let driver: EcsDriver
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  let client: LabClient
  const stops: TaskStop[] = []

  const status = () => gw.pools.get('default')!.controller.status()
  const runTasks = () => ecs.mock.commandCalls(RunTaskCommand).length
  const taskOf = async (sandboxId: string) => String((await gw.store.getSandbox(sandboxId))!.handle!.meta.taskArn)

  beforeEach(async () => {
    expect(process.env.AWS_EC2_METADATA_DISABLED).toBe('true') // set by the mock before any client exists
    stops.length = 0
    backend = new FakeAgentBackend()
    ecs = new MockEcs(backend)
    driver = new EcsDriver({
      cluster: 'lab', taskDefinition: 'lab-sandbox:1', subnets: ['subnet-a'], securityGroups: ['sg-tasks'],
      capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }],
      agentKey: randomBytes(32), agentPort: 17300, pollIntervalMs: 5, logger: pino({ level: 'silent' }),
    }, { client: ecs.client })
    driver.on('stopped', (s) => stops.push(s))
    gw = await startTestGateway(driver, {
      pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 } }],
      ecs: { cluster: 'lab', taskDefinition: 'lab-sandbox:1', subnets: ['subnet-a'] },
    })
    client = new LabClient(gw.url, TEST_KEY)
    await waitFor(() => status().ready === 2, 10_000, 'the pool to fill')
  })
  afterEach(async () => {
    await gw.cleanup()
    await ecs.close()
    await backend.close()
  })

  it('fills to the target with one RunTask per sandbox, on the pool capacity provider', async () => {
    expect(runTasks()).toBe(2)
    expect(ecs.runInputs.map((i) => i.capacityProviderStrategy)).toEqual([[{ capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }], [{ capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }]])
    expect(ecs.runInputs.map((i) => i.group)).toEqual(['infra-lab:default', 'infra-lab:default'])
    expect((await gw.store.listSandboxes()).filter((s) => s.state === 'warm')).toHaveLength(2)
  })

  it('a claim takes a warm task (201) and the pool refills with another RunTask', async () => {
    const res = await fetch(`${gw.url}/v1/sessions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice' }) })
    expect(res.status).toBe(201)
    const session = (await res.json()) as { id: string; warm: boolean }
    expect(session.warm).toBe(true)
    expect(runTasks()).toBeLessThanOrEqual(3)
    await waitFor(() => status().ready === 2 && status().claimed === 1, 10_000, 'the refill')
    expect(runTasks()).toBe(3)
    await waitFor(async () => (await client.getSession(session.id)).state === 'running', 5000, 'the claim to apply')
  })

  it('a Spot interruption of a claimed task ends its session with a reason, and the stop says spot_interruption', async () => {
    const session = await client.createSession({ user: 'alice' })
    await waitFor(() => status().ready === 2 && status().claimed === 1, 10_000, 'the refill')
    const sandboxId = (await gw.store.getSession(session.id))!.sandboxId!
    await waitFor(async () => (await client.getSession(session.id)).state === 'running', 5000, 'the claim to apply')
    const before = runTasks()

    await ecs.interrupt(await taskOf(sandboxId))

    await waitFor(async () => (await client.getSession(session.id)).state === 'ended', 5000, 'the session to end')
    expect(await client.getSession(session.id)).toMatchObject({ state: 'ended', endedReason: 'spot_interruption' })
    await waitFor(() => stops.length === 1, 5000, 'the stopped event')
    expect(stops[0]).toMatchObject({ id: sandboxId, pool: 'default', reason: 'spot_interruption' })
    await waitFor(async () => (await gw.store.getSandbox(sandboxId)) === undefined, 5000, 'the sandbox record to go')
    // The warm target did not change: nothing to start, two still ready.
    expect(status()).toMatchObject({ ready: 2, claimed: 0 })
    expect(runTasks()).toBe(before)
  })

  it('a claimed task that crashes (not Spot) ends its session with sandbox_lost', async () => {
    const session = await client.createSession({ user: 'alice' })
    const sandboxId = (await gw.store.getSession(session.id))!.sandboxId!
    await waitFor(async () => (await client.getSession(session.id)).state === 'running', 5000, 'the claim to apply')

    await ecs.crash(await taskOf(sandboxId))

    await waitFor(async () => (await client.getSession(session.id)).state === 'ended', 5000, 'the session to end')
    expect(await client.getSession(session.id)).toMatchObject({ state: 'ended', endedReason: 'sandbox_lost' })
    await waitFor(() => stops.length === 1, 5000, 'the stopped event')
    expect(stops[0]).toMatchObject({ id: sandboxId, reason: 'exited' })
  })

  it('a driver that cannot tell why within the bound still ends the session, as sandbox_lost', async () => {
    const asked: string[] = []
    driver.lostReason = (id: string) => {
      asked.push(id)
      return new Promise(() => undefined) // never answers
    }
    const session = await client.createSession({ user: 'alice' })
    const sandboxId = (await gw.store.getSession(session.id))!.sandboxId!
    await waitFor(async () => (await client.getSession(session.id)).state === 'running', 5000, 'the claim to apply')
    const t0 = Date.now()

    await ecs.interrupt(await taskOf(sandboxId))

    await waitFor(async () => (await client.getSession(session.id)).state === 'ended', LOST_REASON_TIMEOUT_MS + 3000, 'the session to end')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(LOST_REASON_TIMEOUT_MS - 50)
    expect(asked).toEqual([sandboxId])
    expect(await client.getSession(session.id)).toMatchObject({ state: 'ended', endedReason: 'sandbox_lost' })
  })

  it('a Spot interruption of a warm task is replaced by a new RunTask', async () => {
    const warm = (await gw.store.listSandboxes()).filter((s) => s.state === 'warm')
    const victim = warm[0]!.id
    const before = runTasks()

    await ecs.interrupt(await taskOf(victim))

    await waitFor(() => stops.some((s) => s.id === victim), 5000, 'the stopped event')
    expect(stops.find((s) => s.id === victim)).toMatchObject({ reason: 'spot_interruption', detail: expect.stringContaining('SpotInterruption') })
    await waitFor(async () => runTasks() === before + 1 && status().ready === 2, 10_000, 'the replacement')
    const now = (await gw.store.listSandboxes()).map((s) => s.id)
    expect(now).not.toContain(victim)
    expect(now).toHaveLength(2)
    // and the replacement serves a claim
    expect((await client.createSession({ user: 'bob' })).warm).toBe(true)
  })
})
