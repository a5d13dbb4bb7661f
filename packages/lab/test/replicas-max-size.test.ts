import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../src/drivers/fake/fake-driver.ts'
import { auth, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { postgresSkipReason, startPostgres, type PgServer } from '../src/bench/postgres-server.ts'

const skip = postgresSkipReason()
const headers = { ...auth, 'content-type': 'application/json' }
const MAX_SIZE = 3
const CREATES = 8

describe.skipIf(skip !== undefined)(`a pool's maxSize across replicas${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let server: PgServer
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(async () => {
    await server?.remove()
  })

  it(`cold starts through two replicas at once never take the pool above maxSize ${MAX_SIZE}; the claims beyond it get 503`, async () => {
    const url = await server.createDatabase('maxsize')
    // Slow starts: every claim's cold start is still on its way when the others decide.
    const driver = new FakeDriver({ startDelayMs: 400 })
    const config = (replicaId: string) => ({
      store: { url, poolSize: 4 }, replicaId, leaseRenewMs: 200,
      pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 }, maxSize: MAX_SIZE, maxConcurrentCreates: MAX_SIZE, claimTimeoutMs: 5000 }],
    })
    const gws = [await startTestGateway(driver, config('r1')), await startTestGateway(driver, config('r2'))]
    try {
      const store = gws[0]!.store
      await waitFor(async () => (await Promise.all(gws.map((g) => g.leases().length))).reduce((a, b) => a + b) === 1, 10_000, 'the lease')
      let most = 0
      let sampling = true
      const sampler = (async () => {
        while (sampling) {
          const c = await store.countSandboxes('default')
          most = Math.max(most, c.starting + c.warm + c.claimed)
          await new Promise((r) => setTimeout(r, 5))
        }
      })()
      const results = await Promise.all(Array.from({ length: CREATES }, (_, i) =>
        gws[i % 2]!.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: `user-${i}` } })))
      sampling = false
      await sampler

      const created = results.filter((r) => r.statusCode === 201)
      const refused = results.filter((r) => r.statusCode === 503)
      expect(created.length + refused.length).toBe(CREATES)
      expect(created.length).toBeGreaterThanOrEqual(1)
      expect(created.length).toBeLessThanOrEqual(MAX_SIZE)
      for (const r of refused) expect(r.json()).toMatchObject({ error: { code: 'capacity_exhausted' } })
      expect(most).toBeLessThanOrEqual(MAX_SIZE)
      const c = await store.countSandboxes('default')
      expect(c.starting + c.warm + c.claimed).toBeLessThanOrEqual(MAX_SIZE)
    } finally {
      for (const gw of gws) await gw.stop()
      await driver.teardown()
    }
  }, 60_000)
})
