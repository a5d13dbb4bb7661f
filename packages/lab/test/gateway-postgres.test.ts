import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { FakeDriver } from '../src/drivers/fake/fake-driver.ts'
import { PostgresStore } from '../src/store/postgres/postgres-store.ts'
import { auth, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { postgresSkipReason, startPostgres, type PgServer } from './postgres.test-util.ts'

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
})
