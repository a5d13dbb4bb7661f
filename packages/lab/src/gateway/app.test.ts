import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { findRepoRoot } from '../paths.ts'
import { ERROR_CODES, WS_CLOSE, WS_CLOSE_CODES } from './errors.ts'
import { auth, startTestGateway, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

describe('gateway HTTP API (fake driver)', () => {
  let gw: Gw
  let driver: FakeDriver

  beforeEach(async () => {
    driver = new FakeDriver()
    gw = await startTestGateway(driver, { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 4 }] })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2, 5000, 'pool to fill')
  })
  afterEach(async () => {
    await gw.cleanup()
  })

  const post = (body: unknown, headers: Record<string, string> = { ...auth, 'content-type': 'application/json' }) =>
    gw.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: typeof body === 'string' ? body : JSON.stringify(body) })

  it('serves /healthz, /metrics and /openapi.json without a key', async () => {
    // One process on SQLite: it holds every pool's lease, as it always runs every controller.
    expect((await gw.app.inject('/healthz')).json()).toEqual({ status: 'ok', ok: true, replica: gw.replicaId, leases: ['pool:default'] })
    expect(gw.replicaId).toMatch(/^[A-Za-z0-9.-]+-\d+-[0-9a-f]{6}$/)
    const metrics = await gw.app.inject('/metrics')
    expect(metrics.body).toContain(`lab_pool_sandboxes{pool="default",state="ready",replica="${gw.replicaId}"} 2`)
    expect(metrics.body).toContain(`lab_pool_target{pool="default",replica="${gw.replicaId}"} 2`)
    // Every series carries the replica, the process's own too.
    expect(metrics.body).toMatch(new RegExp(`process_cpu_user_seconds_total\\{replica="${gw.replicaId}"\\} `))
    const spec = (await gw.app.inject('/openapi.json')).json()
    expect(Object.keys(spec.paths)).toContain('/v1/sessions/{id}/terminal')
  })

  it('refuses /v1 without the right key with a JSON 401', async () => {
    const none = await gw.app.inject({ method: 'GET', url: '/v1/pools' })
    expect(none.statusCode).toBe(401)
    expect(none.json().error.code).toBe('unauthorized')
    const wrong = await gw.app.inject({ method: 'GET', url: '/v1/pools', headers: { authorization: 'Bearer nope-nope-nope-nope' } })
    expect(wrong.statusCode).toBe(401)
  })

  it('creates a warm session with the documented shape', async () => {
    const res = await post({ user: 'alice', env: { FOO: 'bar' }, secrets: { TOKEN: 's3cret-value' } })
    expect(res.statusCode).toBe(201)
    const s = res.json()
    expect(s).toMatchObject({ user: 'alice', pool: 'default', warm: true })
    expect(['starting', 'running']).toContain(s.state)
    expect(s.id).toMatch(/^ses-[a-z0-9]+$/)
    expect(s.attach.url).toBe(`/v1/sessions/${s.id}/terminal`)
    expect(typeof s.attach.token).toBe('string')
    expect(Date.parse(s.attach.expiresAt)).toBeGreaterThan(Date.now())
    expect(typeof s.timings.claimMs).toBe('number')
    expect(s.timings).toHaveProperty('storeClaimMs')
    expect(s.timings).toHaveProperty('bindWorkspaceMs')
    expect(s.timings).toHaveProperty('claimSendMs')
    expect(JSON.stringify(s)).not.toContain('s3cret-value')
    // the agent's ready moves the session to running and adds its timings
    await waitFor(async () => (await gw.store.getSession(s.id))?.state === 'running', 5000, 'running')
    const later = (await gw.app.inject({ method: 'GET', url: `/v1/sessions/${s.id}`, headers: auth })).json()
    expect(later.timings.agentReadyMs).toBeGreaterThanOrEqual(0)
    expect(later.timings.claimMs).toBe(s.timings.claimMs)
    // the pool refills after the claim
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2, 5000, 'refill')
  })

  it('rejects malformed JSON, unknown fields and bad user names, naming the field', async () => {
    const bad = await post('{"user": ')
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.code).toBe('invalid_json')

    const unknown = await post({ user: 'alice', color: 'red' })
    expect(unknown.statusCode).toBe(400)
    expect(unknown.json().error.code).toBe('validation_failed')
    expect(unknown.json().error.details).toContainEqual({ field: 'color', message: 'unknown field' })

    for (const user of ['../x', '', 'a'.repeat(65), 'аlice' /* Cyrillic a */, 'a/b', '.', '..', 'al ice', 'x\u0000']) {
      const r = await post({ user })
      expect(r.statusCode, JSON.stringify(user)).toBe(400)
      expect(r.json().error.details[0].field).toBe('user')
    }
    expect((await post({ user: 'a'.repeat(64) })).statusCode).toBe(201)
  })

  it('rejects oversized bodies and env maps, and bad env names', async () => {
    const huge = await post({ user: 'alice', env: { BIG: 'x'.repeat(600 * 1024) } })
    expect(huge.statusCode).toBe(413)
    expect(huge.json().error.code).toBe('body_too_large')
    const big = await post({ user: 'alice', env: { BIG: 'x'.repeat(40 * 1024) } })
    expect(big.statusCode).toBe(400)
    expect(big.json().error.details[0].field).toBe('env.BIG')
    const many = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`V${i}`, '1']))
    expect((await post({ user: 'alice', env: many })).statusCode).toBe(400)
    const reserved = await post({ user: 'alice', env: { HOME: '/etc' } })
    expect(reserved.statusCode).toBe(400)
    expect((await post({ user: 'alice', secrets: { 'BAD-NAME': 'x' } })).statusCode).toBe(400)
    expect((await post({ user: 'alice' }, { ...auth, 'content-type': 'text/plain' })).statusCode).toBe(415)
  })

  it('answers 404 for unknown sessions, pools and routes, 400 for malformed ids', async () => {
    const r = await gw.app.inject({ method: 'GET', url: '/v1/sessions/ses-doesnotexist', headers: auth })
    expect(r.statusCode).toBe(404)
    expect(r.json().error.code).toBe('session_not_found')
    expect((await gw.app.inject({ method: 'GET', url: '/v1/sessions/..%2Fetc', headers: auth })).statusCode).toBe(400)
    expect((await post({ user: 'alice', pool: 'nope' })).json().error.code).toBe('pool_not_found')
    expect((await gw.app.inject({ method: 'GET', url: '/v1/pools/nope', headers: auth })).statusCode).toBe(404)
    expect((await gw.app.inject({ method: 'GET', url: '/v1/nothing', headers: auth })).json().error.code).toBe('not_found')
  })

  it('lists, ends (idempotently) and re-attaches sessions', async () => {
    const a = (await post({ user: 'alice' })).json()
    const b = (await post({ user: 'bob' })).json()
    const list = await gw.app.inject({ method: 'GET', url: '/v1/sessions?user=alice', headers: auth })
    expect(list.json().sessions.map((s: { id: string }) => s.id)).toEqual([a.id])
    const att = await gw.app.inject({ method: 'POST', url: `/v1/sessions/${b.id}/attach`, headers: auth })
    expect(att.statusCode).toBe(200)
    expect(att.json().token).not.toBe(b.attach.token)

    expect((await gw.app.inject({ method: 'DELETE', url: `/v1/sessions/${a.id}`, headers: auth })).statusCode).toBe(204)
    expect((await gw.app.inject({ method: 'DELETE', url: `/v1/sessions/${a.id}`, headers: auth })).statusCode).toBe(204)
    const ended = (await gw.app.inject({ method: 'GET', url: `/v1/sessions/${a.id}`, headers: auth })).json()
    expect(ended).toMatchObject({ state: 'ended', endedReason: 'terminated' })
    expect((await gw.app.inject({ method: 'POST', url: `/v1/sessions/${a.id}/attach`, headers: auth })).statusCode).toBe(409)
    await waitFor(async () => (await gw.store.getSession(b.id))?.state === 'running', 5000, 'running')
    const running = await gw.app.inject({ method: 'GET', url: '/v1/sessions?state=running', headers: auth })
    expect(running.json().sessions.map((s: { id: string }) => s.id)).toEqual([b.id])
    expect((await gw.app.inject({ method: 'GET', url: '/v1/sessions?state=bogus', headers: auth })).statusCode).toBe(400)
  })

  it('reports pools with spec and status', async () => {
    const pools = (await gw.app.inject({ method: 'GET', url: '/v1/pools', headers: auth })).json().pools
    expect(pools).toHaveLength(1)
    expect(pools[0]).toMatchObject({ name: 'default', spec: { policy: { kind: 'fixed', size: 2 }, maxSize: 4 }, status: { ready: 2, target: 2, claimed: 0 } })
  })

  it('answers 503 with Retry-After when the pool is at maxSize', async () => {
    const made = []
    for (let i = 0; i < 4; i++) made.push(await post({ user: `u${i}` }))
    expect(made.map((r) => r.statusCode)).toEqual([201, 201, 201, 201])
    const full = await post({ user: 'late' })
    expect(full.statusCode).toBe(503)
    expect(full.json().error.code).toBe('capacity_exhausted')
    expect(Number(full.headers['retry-after'])).toBeGreaterThan(0)
  })
})

describe('gateway when the driver cannot create sandboxes', () => {
  it('answers 503 pool_unavailable, reports the error, and stays up', async () => {
    const driver = new FakeDriver({ failCreates: true })
    const gw = await startTestGateway(driver, { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, claimTimeoutMs: 500 }] })
    try {
      await waitFor(() => gw.pools.get('default')!.controller.status().lastError !== undefined, 5000, 'lastError')
      const r = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: { user: 'alice' } })
      expect(r.statusCode).toBe(503)
      expect(['pool_unavailable', 'claim_timeout']).toContain(r.json().error.code)
      expect(r.headers['retry-after']).toBeDefined()
      const pool = (await gw.app.inject({ method: 'GET', url: '/v1/pools/default', headers: auth })).json()
      expect(pool.status.ready).toBe(0)
      expect(pool.status.lastError).toBeTruthy()
      expect((await gw.app.inject('/healthz')).statusCode).toBe(200)
    } finally {
      await gw.cleanup()
    }
  })
})

describe('error catalogue', () => {
  it('documents every error code with its HTTP status in docs/api.md', () => {
    const doc = readFileSync(join(findRepoRoot(), 'docs', 'api.md'), 'utf8')
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      expect(doc, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${status} \\|`))
    }
  })

  it('documents no error code the gateway does not have', () => {
    const doc = readFileSync(join(findRepoRoot(), 'docs', 'api.md'), 'utf8')
    const documented = [...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])])
    expect(documented.length).toBeGreaterThanOrEqual(Object.keys(ERROR_CODES).length)
    for (const [code, status] of documented) expect(ERROR_CODES[code as keyof typeof ERROR_CODES]?.status, String(code)).toBe(status)
  })

  it('documents every WebSocket close code in docs/api.md, and names only catalogued ones', () => {
    const doc = readFileSync(join(findRepoRoot(), 'docs', 'api.md'), 'utf8')
    for (const code of Object.keys(WS_CLOSE_CODES)) expect(doc, code).toMatch(new RegExp(`\\| ${code} \\| \\S`))
    for (const code of Object.values(WS_CLOSE)) expect(Object.keys(WS_CLOSE_CODES)).toContain(String(code))
  })
})

describe('session limits', () => {
  it('ends idle sessions after idleTimeoutS and long ones after maxLifetimeS', async () => {
    const gw = await startTestGateway(new FakeDriver(), {
      pools: [
        { name: 'default', policy: { kind: 'fixed', size: 1 }, idleTimeoutS: 1, maxLifetimeS: 0 },
        { name: 'short', policy: { kind: 'fixed', size: 1 }, idleTimeoutS: 0, maxLifetimeS: 1 },
      ],
    })
    try {
      const headers = { ...auth, 'content-type': 'application/json' }
      const idle = (await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'idle' } })).json()
      const short = (await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'brief', pool: 'short' } })).json()
      await waitFor(async () => (await gw.store.getSession(idle.id))?.state === 'ended' && (await gw.store.getSession(short.id))?.state === 'ended', 5000, 'both to end')
      expect((await gw.store.getSession(idle.id))?.endedReason).toBe('idle_timeout')
      expect((await gw.store.getSession(short.id))?.endedReason).toBe('max_lifetime')
    } finally {
      await gw.cleanup()
    }
  })
})
