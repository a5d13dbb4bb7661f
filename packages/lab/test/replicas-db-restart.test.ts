// The database restarts under load: three gateway replicas (fake driver, in this process) on one
// PostgreSQL database, clients creating and ending sessions through all of them while the server
// is stopped (pg_ctl stop -m fast) for a few seconds and started again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgresSkipReason, startPostgres, type PgServer } from '../src/bench/postgres-server.ts'
import { FakeDriver } from '../src/drivers/fake/fake-driver.ts'
import { auth, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'

const skip = postgresSkipReason()
const headers = { ...auth, 'content-type': 'application/json' }
const CLIENTS = 6
const DOWN_MS = 3000
/** Successful creates each client makes after the restart before it stops. */
const AFTER = 5

interface Answer {
  readonly what: 'create' | 'end'
  readonly status: number
  readonly code?: string
  readonly retryAfter?: string
  readonly startedAt: number
  readonly endedAt: number
}

describe.skipIf(skip !== undefined)(`a database restart under load, three replicas${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let server: PgServer
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(async () => {
    await server?.remove()
  })

  it('answers 503 store_unavailable with Retry-After while it is down, succeeds on retry after; every acknowledged session and end is stored, no sandbox claimed twice', async () => {
    const url = await server.createDatabase('restart')
    const driver = new FakeDriver()
    const config = (replicaId: string) => ({
      store: { url, poolSize: 4 }, replicaId, leaseRenewMs: 200,
      pools: [{ name: 'default', policy: { kind: 'fixed', size: 4 }, maxSize: 32 }],
    })
    const gws = [await startTestGateway(driver, config('r1')), await startTestGateway(driver, config('r2')), await startTestGateway(driver, config('r3'))]
    try {
      await waitFor(async () => (await gws[0]!.store.listSandboxes({ pool: 'default', state: 'warm' })).length === 4, 10_000, 'pool to fill')
      const answers: Answer[] = []
      const created: { id: string; user: string }[] = []
      const ended: string[] = []
      let restartedAt = Number.POSITIVE_INFINITY
      let n = 0
      const call = async (what: Answer['what'], run: () => Promise<{ statusCode: number; headers: Record<string, unknown>; json(): unknown }>) => {
        const startedAt = Date.now()
        const res = await run()
        const body = res.statusCode >= 400 ? res.json() as { error?: { code?: string } } : undefined
        answers.push({
          what, status: res.statusCode, startedAt, endedAt: Date.now(),
          ...(body?.error?.code ? { code: body.error.code } : {}),
          ...(res.headers['retry-after'] !== undefined ? { retryAfter: String(res.headers['retry-after']) } : {}),
        })
        return res
      }
      // Each client retries a refused call (sooner than Retry-After asks: a test, not a polite client).
      const client = async (c: number) => {
        let after = 0
        while (after < AFTER) {
          const user = `user-${c}`
          const i = n++
          const res = await call('create', () => gws[i % 3]!.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user } }))
          if (res.statusCode !== 201) {
            await new Promise((r) => setTimeout(r, 100))
            continue
          }
          const id = (res.json() as { id: string }).id
          created.push({ id, user })
          if (Date.now() > restartedAt) after++
          // Ended through the next replica; retried until it is acknowledged.
          for (let j = i + 1; ; j++) {
            const end = await call('end', () => gws[j % 3]!.app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: auth }))
            if (end.statusCode < 300) break
            await new Promise((r) => setTimeout(r, 100))
          }
          ended.push(id)
        }
      }
      const load = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)))

      await waitFor(() => created.length >= 20, 20_000, 'sessions before the outage')
      await server.stop()
      const downAt = Date.now()
      await new Promise((r) => setTimeout(r, DOWN_MS))
      // The server accepts connections before pg_ctl start returns: the outage ends when it is called.
      const upAt = Date.now()
      await server.start()
      restartedAt = Date.now()
      await load

      // While it was down: every call that began and ended inside the outage was refused as 503 store_unavailable with Retry-After.
      const inside = answers.filter((a) => a.startedAt > downAt && a.endedAt < upAt)
      expect(inside.length).toBeGreaterThan(CLIENTS)
      for (const a of inside) expect(a).toMatchObject({ status: 503, code: 'store_unavailable', retryAfter: '2' })
      // Nothing but successes and 503s, ever: no 500 from a call cut by the outage.
      expect(answers.filter((a) => a.status >= 300 && a.status !== 503)).toEqual([])
      // After the restart: every client got its creates and ends through (the loop above finished).
      expect(created.length).toBeGreaterThanOrEqual(20 + CLIENTS * AFTER)

      // Every acknowledged session is stored for its user, and every acknowledged end as ended.
      const sessions = await gws[1]!.store.listSessions({ pool: 'default' })
      const byId = new Map(sessions.map((s) => [s.id, s]))
      for (const c of created) expect(byId.get(c.id)).toMatchObject({ user: c.user })
      for (const id of ended) expect(byId.get(id)?.state).toBe('ended')
      expect(ended.length).toBe(created.length)
      // No sandbox claimed twice: every session on its own sandbox.
      const sandboxes = sessions.map((s) => s.sandboxId).filter((id) => id !== null)
      expect(new Set(sandboxes).size).toBe(sandboxes.length)
      // The pool runs again: refilled to its target by whichever replica holds the lease.
      await waitFor(async () => (await gws[2]!.store.listSandboxes({ pool: 'default', state: 'warm' })).length === 4, 15_000, 'the pool refilled')
    } finally {
      for (const gw of gws) await gw.stop()
      await driver.teardown()
    }
  }, 120_000)

  it('an end whose write the database refused is recorded when retried (regression: the retry was acknowledged and never written)', async () => {
    const url = await server.createDatabase('retried_end')
    const driver = new FakeDriver()
    const config = (replicaId: string) => ({ store: { url, poolSize: 2 }, replicaId, leaseRenewMs: 200, pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 4 }] })
    const gws = [await startTestGateway(driver, config('r1')), await startTestGateway(driver, config('r2'))]
    try {
      await waitFor(async () => (await gws[0]!.store.listSandboxes({ pool: 'default', state: 'warm' })).length === 1, 10_000, 'pool to fill')
      const created = await gws[0]!.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'ada' } })
      expect(created.statusCode).toBe(201)
      const id = (created.json() as { id: string }).id
      await waitFor(async () => (await gws[0]!.store.getSession(id))?.state === 'running', 5000, 'running')
      // The database refuses the end's write alone (as a server shutting down does, 57P03), after
      // the route has read the session: the end fails half-way, with the session live here.
      await server.psql('retried_end', `
        CREATE FUNCTION refuse_end() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'shutting down' USING ERRCODE = '57P03'; END $$;
        CREATE TRIGGER refuse_end BEFORE UPDATE ON sessions FOR EACH ROW WHEN (NEW.state = 'ended') EXECUTE FUNCTION refuse_end();`)
      const refused = await gws[0]!.app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: auth })
      expect(refused.statusCode).toBe(503)
      expect((refused.json() as { error: { code: string } }).error.code).toBe('store_unavailable')
      await server.psql('retried_end', 'DROP TRIGGER refuse_end ON sessions')
      const retried = await gws[0]!.app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: auth })
      expect(retried.statusCode).toBeLessThan(300)
      expect(await gws[1]!.store.getSession(id)).toMatchObject({ state: 'ended', endedReason: 'terminated' })
    } finally {
      for (const gw of gws) await gw.stop()
      await driver.teardown()
    }
  }, 60_000)
})
