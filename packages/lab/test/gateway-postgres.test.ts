import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { FakeDriver } from '../src/drivers/fake/fake-driver.ts'
import { PostgresStore } from '../src/store/postgres/postgres-store.ts'
import { auth, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { postgresSkipReason, startPostgres, type PgServer } from '../src/bench/postgres-server.ts'

const skip = postgresSkipReason()
const headers = { ...auth, 'content-type': 'application/json' }

describe.skipIf(skip !== undefined)(`the gateway on PostgreSQL${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let server: PgServer
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(async () => {
    await server?.remove()
  })

  it('serves sessions from PostgreSQL, answers 503 store_unavailable with Retry-After while the database is down, and recovers by itself', async () => {
    const url = await server.createDatabase('gateway')
    const gw = await startTestGateway(new FakeDriver(), { store: { url, poolSize: 3 }, pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 4 }] })
    try {
      expect(gw.store).toBeInstanceOf(PostgresStore)
      await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2, 10_000, 'pool to fill')
      const created = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'ada' } })
      expect(created.statusCode).toBe(201)
      const id = created.json().id as string
      expect((await server.psql('gateway', `SELECT "user", warm FROM sessions WHERE id = '${id}'`)).trim()).toBe('ada|t')

      await server.stop()
      try {
        const refused = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'bob' } })
        expect(refused.statusCode).toBe(503)
        expect(refused.json()).toMatchObject({ error: { code: 'store_unavailable' } })
        expect(refused.headers['retry-after']).toBe('2')
        const read = await gw.app.inject({ method: 'GET', url: `/v1/sessions/${id}`, headers: auth })
        expect(read.statusCode).toBe(503)
        expect(read.json().error.code).toBe('store_unavailable')
      } finally {
        await server.start()
      }
      // the same gateway, without a restart: its pool of connections reopens on the next call
      await vi.waitFor(async () => {
        const again = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'bob' } })
        expect(again.statusCode).toBe(201)
      }, { timeout: 15_000, interval: 200 })
      expect((await gw.app.inject({ method: 'GET', url: `/v1/sessions/${id}`, headers: auth })).json()).toMatchObject({ id, user: 'ada' })
    } finally {
      await gw.cleanup()
    }
  })

  it('runs the pool on exactly one of two replicas (the lease), claims warm through either, and hands the pool over when its runner stops', async () => {
    const url = await server.createDatabase('replicas')
    const driver = new FakeDriver()
    const config = (replicaId: string) => ({
      store: { url, poolSize: 3 }, replicaId, leaseRenewMs: 200, pools: [{ name: 'default', policy: { kind: 'fixed', size: 3 }, maxSize: 8 }],
    })
    const a = await startTestGateway(driver, config('replica-a'))
    const b = await startTestGateway(driver, config('replica-b'))
    const gws = [a, b]
    try {
      const health = async (gw: typeof a) => (await gw.app.inject('/healthz')).json() as { ok: boolean; replica: string; leases: string[] }
      await waitFor(async () => (await health(a)).leases.length + (await health(b)).leases.length === 1, 10_000, 'one replica to hold the lease')
      const runner = (await health(a)).leases.length === 1 ? a : b
      const other = runner === a ? b : a
      expect(await health(runner)).toEqual({ status: 'ok', ok: true, replica: runner.replicaId, leases: ['pool:default'] })
      expect(await health(other)).toEqual({ status: 'ok', ok: true, replica: other.replicaId, leases: [] })
      expect((await server.psql('replicas', `SELECT holder FROM leases WHERE name = 'pool:default'`)).trim()).toBe(runner.replicaId)
      const warmCount = async () => (await other.store.listSandboxes({ pool: 'default', state: 'warm' })).length
      await waitFor(async () => (await warmCount()) === 3, 10_000, 'pool to fill')

      // Claims through the replica that does not run the pool: warm, and the runner refills.
      for (const user of ['ada', 'bob']) {
        const res = await other.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user } })
        expect(res.statusCode).toBe(201)
        expect(res.json().warm).toBe(true)
      }
      await waitFor(async () => (await warmCount()) === 3, 10_000, 'the runner to refill')
      // Only the runner created: 3 + 2 sandboxes, never a second fill by the other replica.
      await new Promise((r) => setTimeout(r, 600))
      expect(await driver.list()).toHaveLength(5)

      // The runner stops: it gives the lease up, and the other replica runs the pool.
      await runner.stop()
      gws.splice(gws.indexOf(runner), 1)
      await waitFor(async () => (await health(other)).leases.length === 1, 5000, 'the other replica to take the lease')
      expect((await server.psql('replicas', `SELECT holder FROM leases WHERE name = 'pool:default'`)).trim()).toBe(other.replicaId)
      const res = await other.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'cy' } })
      expect(res.statusCode).toBe(201)
      await waitFor(async () => (await warmCount()) === 3, 10_000, 'the new runner to refill')
      // Its reconcile on taking the lease kept every live sandbox and session.
      expect((await other.store.listSessions({})).filter((s) => s.state !== 'ended')).toHaveLength(3)
    } finally {
      for (const gw of gws) await gw.stop()
      await driver.teardown()
    }
  })

  it("serves a session through a replica that did not create it: its terminal with the scrollback, input, and its end; and after its creator stops", async () => {
    const url = await server.createDatabase('any_replica')
    const driver = new FakeDriver()
    const config = (replicaId: string) => ({
      store: { url, poolSize: 3 }, replicaId, leaseRenewMs: 200, pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 8 }],
    })
    const a = await startTestGateway(driver, config('replica-a'))
    const b = await startTestGateway(driver, config('replica-b'))
    const running = [a, b]
    /** A terminal viewer on `gw` that collects what the shell printed. */
    const view = async (gw: typeof a, id: string) => {
      const token = (await gw.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attach`, headers: auth })).json().token as string
      const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/sessions/${id}/terminal?token=${token}`)
      const got = { out: '', exit: undefined as unknown }
      ws.on('message', (d: Buffer, binary: boolean) => {
        if (binary) got.out += d.toString('utf8')
        else if ((JSON.parse(d.toString('utf8')) as { type: string }).type === 'exit') got.exit = JSON.parse(d.toString('utf8'))
      })
      await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
      return { ws, got }
    }
    try {
      await waitFor(async () => (await a.store.listSandboxes({ pool: 'default', state: 'warm' })).length === 2, 10_000, 'pool to fill')
      const created = await a.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'ada' } })
      expect(created.statusCode).toBe(201)
      const id = created.json().id as string
      await waitFor(async () => (await a.store.getSession(id))?.state === 'running', 5000, 'running')
      const onA = await view(a, id)
      onA.ws.send(Buffer.from('echo before-b\r'))
      await waitFor(() => onA.got.out.includes('before-b\r\n'), 5000, 'output on a')

      // b connects to the session (its sync, or the attach itself): the scrollback, then live input both ways.
      const onB = await view(b, id)
      await waitFor(() => onB.got.out.includes('before-b'), 5000, 'the scrollback through b')
      onB.ws.send(Buffer.from('echo from-b\r'))
      await waitFor(() => onA.got.out.includes('from-b\r\n') && onB.got.out.includes('from-b\r\n'), 5000, 'input through b seen by both')

      // The creator stops (its shells keep running): the session is still served through b.
      await a.stop()
      running.splice(running.indexOf(a), 1)
      const again = await view(b, id)
      await waitFor(() => again.got.out.includes('from-b'), 5000, 'the scrollback after a stopped')
      expect((await b.store.getSession(id))?.state).toBe('running')

      // Its end through b destroys the sandbox and tells b's viewers.
      const sandboxId = (await b.store.getSession(id))!.sandboxId!
      const del = await b.app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: auth })
      expect(del.statusCode).toBeLessThan(300)
      await waitFor(() => again.got.exit !== undefined, 5000, 'exit frame on b')
      expect(again.got.exit).toMatchObject({ type: 'exit', reason: 'terminated' })
      expect(await b.store.getSession(id)).toMatchObject({ state: 'ended', endedReason: 'terminated' })
      await waitFor(async () => !(await driver.list()).some((h) => h.id === sandboxId), 5000, 'the sandbox destroyed')
      for (const v of [onA, onB, again]) v.ws.close()
    } finally {
      for (const gw of running) await gw.stop()
      await driver.teardown()
    }
  })
})
