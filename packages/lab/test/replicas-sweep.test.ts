import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../src/drivers/fake/fake-driver.ts'
import { auth, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'
import type { StartedGateway } from '../src/gateway/gateway.ts'
import { postgresSkipReason, startPostgres, type PgServer } from '../src/bench/postgres-server.ts'

const skip = postgresSkipReason()
const headers = { ...auth, 'content-type': 'application/json' }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Two replicas (sweeping every 100 ms, syncing sessions every 200 ms) on one database: [follower, lease holder]. */
async function twoReplicas(url: string, driver: FakeDriver) {
  const config = (replicaId: string) => ({
    store: { url, poolSize: 3 }, replicaId, leaseRenewMs: 200,
    pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 8 }],
  })
  const gws = [await startTestGateway(driver, config('r1')), await startTestGateway(driver, config('r2'))]
  await waitFor(async () => (await gws[0]!.store.listSandboxes({ pool: 'default', state: 'warm' })).length === 2, 10_000, 'pool to fill')
  const leads = (gw: StartedGateway) => gw.pools.get('default')!.controller.leads
  await waitFor(() => gws.some(leads), 5000, 'a replica to hold the lease')
  // [the one without the lease, the lease holder]: the holder connects to every session of the
  // pool, so a session created through the other is live on both.
  return leads(gws[0]!) ? [gws[1]!, gws[0]!] : gws
}

async function create(gw: StartedGateway, payload: Record<string, unknown>): Promise<string> {
  const res = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'ada', ...payload } })
  expect(res.statusCode).toBe(201)
  return res.json().id as string
}

async function eventsOf(gw: StartedGateway, sessionId: string, type: string) {
  return (await gw.store.listEvents(0, 1000)).filter((e) => e.sessionId === sessionId && e.type === type)
}

describe.skipIf(skip !== undefined)(`timeouts of sessions on two replicas${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let server: PgServer
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(async () => {
    await server?.remove()
  })

  it('a session used through one replica is not ended as idle by the other; once idle, it is warned of and ended once', async () => {
    const driver = new FakeDriver()
    const [r1, r2] = await twoReplicas(await server.createDatabase('idle'), driver)
    try {
      const id = await create(r1!, { idleTimeoutS: 2 })
      await waitFor(() => r2!.sessions.lastActivityMs(id) !== undefined, 5000, 'the second replica to connect to the session')
      // Used through r1 only, for twice its idle limit.
      for (let i = 0; i < 16; i++) {
        const res = await r1!.app.inject({ method: 'POST', url: `/v1/sessions/${id}/keepalive`, headers, payload: {} })
        expect(res.statusCode).toBe(200)
        await sleep(250)
      }
      expect(await r1!.store.getSession(id)).toMatchObject({ state: 'running' })
      expect(await eventsOf(r1!, id, 'session.expiring')).toEqual([])

      await waitFor(async () => (await r1!.store.getSession(id))?.state === 'ended', 10_000, 'the idle end')
      expect(await r1!.store.getSession(id)).toMatchObject({ endedReason: 'idle_timeout' })
      expect((await eventsOf(r1!, id, 'session.expiring')).map((e) => e.data)).toEqual([{ reason: 'idle_timeout', inS: 1 }])
      expect(await eventsOf(r1!, id, 'session.ended')).toHaveLength(1)
      const sandboxId = (await r1!.store.getSession(id))!.sandboxId!
      await waitFor(() => driver.destroyed.includes(sandboxId), 5000, 'its sandbox destroyed')
    } finally {
      for (const gw of [r1, r2]) await gw?.stop()
      await driver.teardown()
    }
  }, 60_000)

  it('a keepalive through one replica moves the lifetime for both; each deadline is warned of once in the event log', async () => {
    const driver = new FakeDriver()
    const [r1, r2] = await twoReplicas(await server.createDatabase('lifetime'), driver)
    try {
      const id = await create(r1!, { timeoutS: 2 })
      await waitFor(() => r2!.sessions.lastActivityMs(id) !== undefined, 5000, 'the second replica to connect to the session')
      // The lifetime is under a minute: both replicas warn their viewers of it at once.
      await waitFor(async () => (await eventsOf(r1!, id, 'session.expiring')).length >= 1, 5000, 'the first warning')
      const res = await r1!.app.inject({ method: 'POST', url: `/v1/sessions/${id}/keepalive`, headers, payload: { timeoutS: 4 } })
      expect(res.statusCode).toBe(200)
      const movedAt = Date.now()
      // Past the first lifetime: neither replica ends it.
      await sleep(3000)
      expect(await r2!.store.getSession(id)).toMatchObject({ state: 'running' })
      await waitFor(async () => (await r1!.store.getSession(id))?.state === 'ended', 10_000, 'the lifetime end')
      expect(Date.now() - movedAt).toBeGreaterThanOrEqual(3900)
      expect(await r1!.store.getSession(id)).toMatchObject({ endedReason: 'max_lifetime' })
      // One per deadline: the first, and the one the keepalive moved it to.
      expect((await eventsOf(r1!, id, 'session.expiring')).map((e) => e.data.reason)).toEqual(['max_lifetime', 'max_lifetime'])
      expect(await eventsOf(r1!, id, 'session.ended')).toHaveLength(1)
    } finally {
      for (const gw of [r1, r2]) await gw?.stop()
      await driver.teardown()
    }
  }, 60_000)
})
