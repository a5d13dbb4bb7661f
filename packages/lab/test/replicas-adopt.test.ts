import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../src/drivers/fake/fake-driver.ts'
import { auth, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'
import type { StartedGateway } from '../src/gateway/gateway.ts'
import { postgresSkipReason, startPostgres, type PgServer } from '../src/bench/postgres-server.ts'

const skip = postgresSkipReason()
const headers = { ...auth, 'content-type': 'application/json' }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const config = (url: string, replicaId: string) => ({
  store: { url, poolSize: 3 }, replicaId, leaseRenewMs: 200,
  pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 8 }],
})
const leads = (gw: StartedGateway) => gw.pools.get('default')!.controller.leads

async function create(gw: StartedGateway): Promise<{ id: string; sandboxId: string }> {
  const res = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'ada' } })
  expect(res.statusCode).toBe(201)
  const id = res.json().id as string
  return { id, sandboxId: (await gw.store.getSession(id))!.sandboxId! }
}

describe.skipIf(skip !== undefined)(`which replicas connect to a session${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let server: PgServer
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(async () => {
    await server?.remove()
  })

  it('the creator and the lease holder do; a replica without the lease only once a request for the session reaches it', async () => {
    const driver = new FakeDriver()
    const url = await server.createDatabase('adopt')
    const gws = [await startTestGateway(driver, config(url, 'r1')), await startTestGateway(driver, config(url, 'r2'))]
    try {
      await waitFor(() => gws.some(leads), 5000, 'a replica to hold the lease')
      const holder = gws.find(leads)!
      const other = gws.find((g) => !leads(g))!
      await waitFor(async () => (await holder.store.listSandboxes({ pool: 'default', state: 'warm' })).length === 2, 10_000, 'pool to fill')

      // Created through the replica without the lease: the holder connects to it by itself.
      const a = await create(other)
      await waitFor(() => holder.sessions.lastActivityMs(a.id) !== undefined, 5000, 'the lease holder to connect')
      expect(driver.agent(a.sandboxId)!.connections).toBe(2)

      // Created through the holder: the other stays away, sync period after sync period.
      const b = await create(holder)
      await sleep(1000) // five sync periods
      expect(other.sessions.lastActivityMs(b.id)).toBeUndefined()
      expect(driver.agent(b.sandboxId)!.connections).toBe(1)

      // Until a request for it arrives there (the fake agent runs no command, but it is reached).
      await other.app.inject({ method: 'POST', url: `/v1/sessions/${b.id}/exec`, headers, payload: { cmd: 'true' } })
      expect(other.sessions.lastActivityMs(b.id)).toBeDefined()
      expect(driver.agent(b.sandboxId)!.connections).toBe(2)
    } finally {
      for (const gw of gws) await gw.stop()
      await driver.teardown()
    }
  }, 60_000)

  it('the replica taking the lease ends a session whose shell exited while no replica was connected, and destroys its sandbox', async () => {
    const driver = new FakeDriver()
    const url = await server.createDatabase('exited')
    const first = await startTestGateway(driver, config(url, 'r1'))
    let second: StartedGateway | undefined
    try {
      await waitFor(async () => leads(first) && (await first.store.listSandboxes({ pool: 'default', state: 'warm' })).length === 2, 10_000, 'pool to fill')
      const s = await create(first)
      await waitFor(async () => (await first.store.getSession(s.id))?.state === 'running', 5000, 'the session to run')
      // The only replica goes away (its shells keep running); the shell then exits unheard.
      await first.stop()
      await waitFor(() => driver.agent(s.sandboxId)!.connections === 0, 5000, 'its connection to close')
      driver.agent(s.sandboxId)!.state = 'exited'

      second = await startTestGateway(driver, config(url, 'r2'))
      await waitFor(async () => (await second!.store.getSession(s.id))?.state === 'ended', 10_000, 'the lease holder to end it')
      expect(await second.store.getSession(s.id)).toMatchObject({ endedReason: 'exited' })
      await waitFor(() => driver.destroyed.includes(s.sandboxId), 5000, 'its sandbox destroyed')
    } finally {
      await second?.stop()
      await first.stop().catch(() => undefined)
      await driver.teardown()
    }
  }, 60_000)
})
