import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { statsSchema } from './stats-schema.ts'
import { registerWeb } from './static.ts'
import { auth, startTestGateway, waitFor } from './test-gateway.test-util.ts'
import Fastify from 'fastify'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

describe('GET /v1/stats (fake driver)', () => {
  let gw: Gw

  beforeEach(async () => {
    gw = await startTestGateway(new FakeDriver(), {
      pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 4 }, { name: 'other', policy: { kind: 'fixed', size: 1 }, maxSize: 2 }],
    })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2, 5000, 'pool to fill')
  })
  afterEach(async () => {
    await gw.cleanup()
  })

  const stats = async () => {
    const res = await gw.app.inject({ method: 'GET', url: '/v1/stats', headers: auth })
    expect(res.statusCode).toBe(200)
    return res.json()
  }

  it('needs the API key', async () => {
    const res = await gw.app.inject({ method: 'GET', url: '/v1/stats' })
    expect(res.statusCode).toBe(401)
    expect(res.json().error.code).toBe('unauthorized')
  })

  it('reports each pool with a sampled series, claims by path, the warm hit rate and a latency histogram', async () => {
    const before = (await stats()).pools[0]
    expect(before.name).toBe('default')
    expect(before.claims).toEqual({ warm: 0, cold: 0, rejected: 0, warmHitRate: null })
    expect(before.series.t.length).toBeGreaterThanOrEqual(1)

    const created = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: { user: 'alice' } })
    expect(created.statusCode).toBe(201)
    const body = await stats()
    const pool = body.pools[0]
    expect(pool.claims).toMatchObject({ warm: 1, cold: 0, rejected: 0, warmHitRate: 1 })
    expect(pool.claimLatency.warm.reduce((a: number, b: number) => a + b, 0)).toBe(1)
    expect(pool.claimLatency.cold.every((n: number) => n === 0)).toBe(true)
    expect(pool.claimLatency.bucketsMs.at(-1)).toBeNull() // the +Inf bucket
    expect(pool.claimLatency.bucketsMs).toContain(1)
    for (const k of ['ready', 'starting', 'claimed', 'target']) expect(pool.series[k]).toHaveLength(pool.series.t.length)
    expect(body.intervalMs).toBeGreaterThan(0)
    expect(body.failures).toEqual([])

    const [session] = body.sessions
    expect(session).toMatchObject({ id: created.json().id, user: 'alice', pool: 'default', warm: true })
    expect(session.ageS).toBeGreaterThanOrEqual(0)
    expect(session.idleS).toBeGreaterThanOrEqual(0)
  })

  it('lists only sessions that have not ended, and counts the ended one under its reason in the current hour', async () => {
    const created = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: { user: 'bob' } })
    await gw.app.inject({ method: 'DELETE', url: `/v1/sessions/${created.json().id}`, headers: auth })
    const body = await stats()
    expect(body.sessions).toEqual([])
    expect(body.endedReasons.counts.terminated.at(-1)).toBe(1)
    expect(body.endedReasons.t).toHaveLength(24)
  })

  it('answers in the shape its schema documents, naming the admin as the caller', async () => {
    const body = await stats()
    expect(statsSchema.safeParse(body).error).toBeUndefined()
    expect(body.caller).toEqual({ name: 'admin', admin: true })
    expect(body.quotas).toEqual({ maxSessionsPerUser: 10, keys: [], users: [] })
  })

  describe('seen with a scoped key', () => {
    const json = { ...auth, 'content-type': 'application/json' }
    let scoped: Record<string, string>
    beforeEach(async () => {
      const key = await gw.app.inject({
        method: 'POST', url: '/v1/keys', headers: json,
        payload: { name: 'team-a', users: ['team-a-*'], pools: ['default'], maxSessions: 3, createsPerMin: 10 },
      })
      expect(key.statusCode).toBe(201)
      scoped = { authorization: `Bearer ${key.json().key}` }
      expect((await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...scoped, 'content-type': 'application/json' }, payload: { user: 'team-a-1' } })).statusCode).toBe(201)
      expect((await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: json, payload: { user: 'bob' } })).statusCode).toBe(201)
      const other = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: json, payload: { user: 'team-a-2', pool: 'other' } })
      expect(other.statusCode).toBe(201)
      await gw.app.inject({ method: 'DELETE', url: `/v1/sessions/${other.json().id}`, headers: auth })
    })

    it("shows only its pools, its users' sessions and ends, and its own quota in use", async () => {
      const res = await gw.app.inject({ method: 'GET', url: '/v1/stats', headers: scoped })
      expect(res.statusCode).toBe(200)
      const body = res.json()
      expect(body.caller).toEqual({ name: 'team-a', admin: false })
      expect(body.pools.map((p: { name: string }) => p.name)).toEqual(['default'])
      expect(body.sessions.map((s: { user: string }) => s.user)).toEqual(['team-a-1'])
      expect(body.quotas.keys).toEqual([expect.objectContaining({ name: 'team-a', openSessions: 1, maxSessions: 3, createsPerMin: 10, createsLastMin: 1 })])
      expect(body.quotas.users).toEqual([{ user: 'team-a-1', openSessions: 1 }])
      // the session ended in pool `other` is outside the key's pools
      expect(body.endedReasons.counts.terminated.every((c: number) => c === 0)).toBe(true)
      expect(JSON.stringify(body)).not.toContain('bob')
    })

    it('shows the admin every key with its use, and every user', async () => {
      const body = await stats()
      expect(body.pools.map((p: { name: string }) => p.name).sort()).toEqual(['default', 'other'])
      expect(body.quotas.keys).toEqual([expect.objectContaining({ name: 'team-a', openSessions: 1, createsLastMin: 1 })])
      expect(body.quotas.users.map((u: { user: string }) => u.user).sort()).toEqual(['bob', 'team-a-1'])
      expect(body.endedReasons.counts.terminated.at(-1)).toBe(1)
    })
  })
})

describe('web dashboard files', () => {
  it('serves the built files at / and keeps JSON 404s for everything else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'infra-lab-web-'))
    try {
      writeFileSync(join(dir, 'index.html'), '<!doctype html><title>lab</title>')
      const app = Fastify()
      app.setNotFoundHandler((_req, reply) => void reply.code(404).send({ error: { code: 'not_found' } }))
      await registerWeb(app, dir)
      const index = await app.inject('/')
      expect(index.statusCode).toBe(200)
      expect(index.headers['content-type']).toMatch(/text\/html/)
      expect(index.body).toContain('<title>lab</title>')
      expect((await app.inject('/nope.js')).json()).toEqual({ error: { code: 'not_found' } })
      await app.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('says how to build the dashboard when it is missing', async () => {
    const app = Fastify()
    await registerWeb(app, join(tmpdir(), 'no-such-web-dist'))
    expect((await app.inject('/')).body).toContain('npm run build')
    await app.close()
  })
})
