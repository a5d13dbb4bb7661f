// Keys and tenancy: scoped keys made, rotated and revoked by the admin; what a scoped key may see
// and do (404 for what it does not cover, 403 for what it asks to make outside its scope);
// quotas and the creates-per-minute bucket under concurrent creates; labels; paging; the audit log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { sha256Hex } from './auth.ts'
import { auth, startTestGateway, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

describe('keys and tenancy', () => {
  let gw: Gw
  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, key: string | undefined, payload?: unknown) =>
    gw.app.inject({
      method, url,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
    })
  const admin = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
    gw.app.inject({ method, url, headers: { ...auth, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}) })
  const newKey = async (body: Record<string, unknown>) => {
    const res = await admin('POST', '/v1/keys', body)
    expect(res.statusCode, res.body).toBe(201)
    return res.json() as { id: string; name: string; key: string }
  }
  const create = async (key: string, body: Record<string, unknown>) => call('POST', '/v1/sessions', key, body)

  beforeAll(async () => {
    gw = await startTestGateway(new FakeDriver(), {
      maxSessionsPerUser: 5,
      pools: [
        { name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 200 },
        { name: 'other', policy: { kind: 'fixed', size: 1 }, maxSize: 20 },
      ],
    })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2, 10_000, 'the pool to fill')
  })
  afterAll(async () => {
    await gw?.cleanup()
  })

  describe('key management', () => {
    it('shows a new secret once, keeps only its hash, and lists keys without secrets', async () => {
      const k = await newKey({ name: 'ci-bot', users: ['ci-*'], pools: ['default'], maxSessions: 3, createsPerMin: 60 })
      expect(k.id).toMatch(/^key-/)
      expect(k.key).toMatch(/^ilk_/)
      const list = await admin('GET', '/v1/keys')
      expect(list.statusCode).toBe(200)
      expect(list.body).not.toContain(k.key)
      expect(list.json().keys).toContainEqual(expect.objectContaining({ id: k.id, name: 'ci-bot', users: ['ci-*'], pools: ['default'], maxSessions: 3, createsPerMin: 60, openSessions: 0 }))
      const stored = await gw.store.getKey(k.id)
      expect(JSON.stringify(stored)).not.toContain(k.key)
      expect((await gw.store.getKeyBySecretHash(sha256Hex(k.key)))?.id).toBe(k.id)
    })

    it('refuses bad key bodies with the field named, and reserved names', async () => {
      for (const [body, field] of [
        [{ name: 'admin' }, 'name'], [{ name: 'system' }, 'name'], [{ name: '' }, 'name'], [{ name: 'a b' }, 'name'],
        [{ name: 'x', users: ['a*b*'] }, 'users.0'], [{ name: 'x', users: [] }, 'users'], [{ name: 'x', pools: ['../etc'] }, 'pools.0'],
        [{ name: 'x', maxSessions: 0 }, 'maxSessions'], [{ name: 'x', createsPerMin: -1 }, 'createsPerMin'],
        [{ name: 'x', expiresAt: 'tomorrow' }, 'expiresAt'], [{ name: 'x', expiresAt: '2000-01-01T00:00:00Z' }, 'expiresAt'],
        [{ name: 'x', admin: true }, ''],
      ] as const) {
        const res = await admin('POST', '/v1/keys', body)
        expect(res.statusCode, JSON.stringify(body)).toBe(400)
        expect(res.json().error.code).toBe('validation_failed')
        if (field) expect(res.json().error.details.map((d: { field: string }) => d.field), JSON.stringify(body)).toContain(field)
      }
    })

    it('rotate refuses the old secret at once and keeps scope and sessions; revoke refuses it and leaves its sessions running', async () => {
      const k = await newKey({ name: 'rotating', users: ['rot-*'] })
      const s = await create(k.key, { user: 'rot-1' })
      expect(s.statusCode, s.body).toBe(201)
      const rotated = await call('POST', `/v1/keys/${k.id}/rotate`, auth.authorization.slice(7))
      expect(rotated.statusCode).toBe(200)
      const fresh = rotated.json().key as string
      expect(fresh).not.toBe(k.key)
      expect((await call('GET', '/v1/sessions', k.key)).statusCode).toBe(401)
      const seen = await call('GET', `/v1/sessions/${s.json().id}`, fresh)
      expect(seen.statusCode).toBe(200)
      expect((await create(fresh, { user: 'bob' })).statusCode).toBe(403)

      expect((await admin('DELETE', `/v1/keys/${k.id}`)).statusCode).toBe(204)
      expect((await admin('DELETE', `/v1/keys/${k.id}`)).statusCode).toBe(204)
      const refused = await call('GET', '/v1/sessions', fresh)
      expect(refused.statusCode).toBe(401)
      expect(refused.json().error.code).toBe('unauthorized')
      expect((await gw.store.getSession(s.json().id))?.state).not.toBe('ended')
      expect((await admin('POST', `/v1/keys/${k.id}/rotate`)).statusCode).toBe(404)
      // the admin ends what the revoked key left running, and the record says who
      expect((await admin('DELETE', `/v1/sessions/${s.json().id}`)).statusCode).toBe(204)
      const ended = await admin('GET', `/v1/sessions/${s.json().id}`)
      expect(ended.json()).toMatchObject({ state: 'ended', endedBy: 'admin' })
      expect(JSON.stringify(await gw.store.listKeys())).not.toContain(fresh)
    })

    it('refuses an expired key like a wrong one', async () => {
      const secret = 'ilk_expired-secret-for-the-test'
      const now = Date.now()
      await gw.store.insertKey({
        id: 'key-expired', name: 'expired', secretHash: sha256Hex(secret), users: null, pools: null, maxSessions: null, createsPerMin: null,
        expiresAt: now - 1, createdAt: now - 10_000,
      })
      const res = await call('GET', '/v1/sessions', secret)
      expect(res.statusCode).toBe(401)
      expect(res.json().error.message).toContain('expired')
    })

    it('unknown key ids answer 404 key_not_found; malformed ones 400', async () => {
      expect((await admin('DELETE', '/v1/keys/key-nosuchkey')).json().error.code).toBe('key_not_found')
      expect((await admin('POST', '/v1/keys/key-nosuchkey/rotate')).statusCode).toBe(404)
      expect((await admin('DELETE', '/v1/keys/..%2f..%2fetc')).statusCode).toBe(400)
    })
  })

  describe('scope', () => {
    let teamA: { id: string; key: string; name: string }
    let bobSession: string
    let teamSession: string

    beforeAll(async () => {
      teamA = await newKey({ name: 'team-a', users: ['team-a-*'], pools: ['default'] })
      const bob = await admin('POST', '/v1/sessions', { user: 'bob' })
      expect(bob.statusCode).toBe(201)
      bobSession = bob.json().id
      const mine = await create(teamA.key, { user: 'team-a-1', labels: { team: 'a' } })
      expect(mine.statusCode, mine.body).toBe(201)
      teamSession = mine.json().id
    })

    it('creating for a user or pool outside the scope is 403 forbidden, and nothing is made', async () => {
      const before = (await gw.store.listSessions()).length
      for (const body of [{ user: 'bob' }, { user: 'team-b-1' }, { user: 'team-a-1', pool: 'other' }]) {
        const res = await create(teamA.key, body)
        expect(res.statusCode, JSON.stringify(body)).toBe(403)
        expect(res.json().error.code).toBe('forbidden')
      }
      expect((await gw.store.listSessions()).length).toBe(before)
    })

    it('another user\'s session by id is 404 session_not_found on every session route, and is left alone', async () => {
      for (const [method, url] of [
        ['GET', `/v1/sessions/${bobSession}`], ['DELETE', `/v1/sessions/${bobSession}`], ['POST', `/v1/sessions/${bobSession}/attach`],
        ['GET', `/v1/sessions/${bobSession}/network`], ['GET', `/v1/sessions/${bobSession}/processes`],
      ] as const) {
        const res = await call(method, url, teamA.key)
        expect(res.statusCode, `${method} ${url}`).toBe(404)
        expect(res.json().error.code).toBe('session_not_found')
        // the same answer as for an id that does not exist: nothing tells them apart
        const none = await call(method, url.replace(bobSession, 'ses-doesnotexist00000000'), teamA.key)
        expect(none.json().error.code).toBe(res.json().error.code)
      }
      expect((await gw.store.getSession(bobSession))?.state).not.toBe('ended')
    })

    it('lists, pools and stats show only what the key covers', async () => {
      const list = await call('GET', '/v1/sessions', teamA.key)
      const ids = list.json().sessions.map((s: { id: string }) => s.id)
      expect(ids).toContain(teamSession)
      expect(ids).not.toContain(bobSession)
      expect(list.json().sessions.every((s: { user: string }) => s.user.startsWith('team-a-'))).toBe(true)
      const pools = await call('GET', '/v1/pools', teamA.key)
      expect(pools.json().pools.map((p: { name: string }) => p.name)).toEqual(['default'])
      expect((await call('GET', '/v1/pools/other', teamA.key)).statusCode).toBe(404)
      expect((await call('GET', '/v1/sessions/' + teamSession, teamA.key)).statusCode).toBe(200)
    })

    it('admin-only routes are 403 forbidden to a scoped key and 401 without a key', async () => {
      for (const [method, url, body] of [
        ['GET', '/v1/keys', undefined], ['POST', '/v1/keys', { name: 'escalate' }], ['DELETE', `/v1/keys/${teamA.id}`, undefined],
        ['POST', `/v1/keys/${teamA.id}/rotate`, undefined], ['GET', '/v1/audit', undefined],
      ] as const) {
        const scoped = await call(method, url, teamA.key, body)
        expect(scoped.statusCode, `${method} ${url}`).toBe(403)
        expect(scoped.json().error.code).toBe('forbidden')
        expect((await call(method, url, undefined, body)).statusCode, `${method} ${url}`).toBe(401)
      }
      expect((await gw.store.listKeys()).some((k) => k.name === 'escalate')).toBe(false)
      expect((await gw.store.getKey(teamA.id))?.revokedAt).toBeNull()
    })
  })

  describe('quotas under concurrency', () => {
    const parallel = (n: number, f: (i: number) => Promise<{ statusCode: number }>) => Promise.all(Array.from({ length: n }, (_, i) => f(i)))
    const endAll = async (ids: string[]) => { for (const id of ids) await admin('DELETE', `/v1/sessions/${id}`) }

    it('50 parallel creates against a key\'s maxSessions of 5 make exactly 5; the rest are 429 quota_exceeded with Retry-After', async () => {
      const k = await newKey({ name: 'max5', maxSessions: 5 })
      const results = await parallel(50, (i) => create(k.key, { user: `q-user-${i}` }))
      const made = results.filter((r) => r.statusCode === 201)
      const refused = results.filter((r) => r.statusCode === 429)
      expect(results.filter((r) => r.statusCode !== 201 && r.statusCode !== 429).map((r) => (r as unknown as { body: string }).body).slice(0, 2)).toEqual([])
      expect(made.length).toBe(5)
      expect(refused.length).toBe(45)
      const r = refused[0] as unknown as { json(): { error: { code: string; details: unknown[] } }; headers: Record<string, string> }
      expect(r.json().error.code).toBe('quota_exceeded')
      expect(r.json().error.details[0]).toMatchObject({ field: 'maxSessions', limit: 'maxSessions', value: 5 })
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0)
      expect(await gw.store.countOpenSessions({ keyId: k.id })).toBe(5)
      // ending one frees one place
      const ids = made.map((m) => (m as unknown as { json(): { id: string } }).json().id)
      await endAll(ids.slice(0, 1))
      expect((await create(k.key, { user: 'q-user-again' })).statusCode).toBe(201)
      expect((await create(k.key, { user: 'q-user-again2' })).statusCode).toBe(429)
      await endAll(ids.slice(1))
    })

    it('50 parallel creates against createsPerMin 5 make exactly 5; the rest are 429 rate_limited', async () => {
      const k = await newKey({ name: 'rate5', createsPerMin: 5 })
      const results = await parallel(50, (i) => create(k.key, { user: `r-user-${i}` }))
      const made = results.filter((r) => r.statusCode === 201)
      expect(made.length).toBe(5)
      const refused = results.filter((r) => r.statusCode === 429) as unknown as Array<{ json(): { error: { code: string; details: unknown[] } }; headers: Record<string, string> }>
      expect(refused.length).toBe(45)
      expect(refused.every((r) => r.json().error.code === 'rate_limited')).toBe(true)
      expect(refused[0]!.json().error.details[0]).toMatchObject({ limit: 'createsPerMin', value: 5 })
      expect(Number(refused[0]!.headers['retry-after'])).toBeGreaterThan(0)
      await endAll(made.map((m) => (m as unknown as { json(): { id: string } }).json().id))
    })

    it('the per-user limit holds for the admin key too (50 parallel for one user give 5); the admin is not rate-limited', async () => {
      const results = await parallel(50, () => admin('POST', '/v1/sessions', { user: 'one-user' }))
      const made = results.filter((r) => r.statusCode === 201)
      expect(made.length).toBe(5)
      const refused = results.filter((r) => r.statusCode === 429) as unknown as Array<{ json(): { error: { code: string; details: unknown[] } } }>
      expect(refused.length).toBe(45)
      expect(refused[0]!.json().error).toMatchObject({ code: 'quota_exceeded', details: [expect.objectContaining({ limit: 'maxSessionsPerUser', value: 5 })] })
      await endAll(made.map((m) => (m as unknown as { json(): { id: string } }).json().id))
      // 30 creates for 30 users in a burst: no bucket for the admin
      const burst = await parallel(30, (i) => admin('POST', '/v1/sessions', { user: `burst-${i}` }))
      expect(burst.filter((r) => r.statusCode === 201).length).toBe(30)
      await endAll(burst.map((m) => (m as unknown as { json(): { id: string } }).json().id))
    })
  })

  describe('labels and paging', () => {
    it('filters by every label given (AND), and refuses bad labels with the field named', async () => {
      const made: string[] = []
      for (const labels of [{ team: 'l1', env: 'prod' }, { team: 'l1', env: 'dev' }, { team: 'l2', env: 'prod' }]) {
        const res = await admin('POST', '/v1/sessions', { user: `lab-${made.length}`, labels })
        expect(res.statusCode, res.body).toBe(201)
        expect(res.json().labels).toEqual(labels)
        made.push(res.json().id)
      }
      const ids = async (q: string) => (await admin('GET', `/v1/sessions?${q}`)).json().sessions.map((s: { id: string }) => s.id).sort()
      expect(await ids('label=team=l1')).toEqual([made[0], made[1]].sort())
      expect(await ids('label=team=l1&label=env=prod')).toEqual([made[0]])
      expect(await ids('label=env=prod')).toEqual([made[0], made[2]].sort())
      expect(await ids('label=team=nobody')).toEqual([])
      const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']))
      for (const labels of [tooMany, { 'Bad Key': 'v' }, { k: 'x'.repeat(257) }, { ['x'.repeat(64)]: 'v' }]) {
        const res = await admin('POST', '/v1/sessions', { user: 'lab-bad', labels })
        expect(res.statusCode).toBe(400)
        expect(res.json().error.details[0].field).toMatch(/^labels/)
      }
      expect((await admin('GET', '/v1/sessions?label=novalue')).statusCode).toBe(400)
      for (const id of made) await admin('DELETE', `/v1/sessions/${id}`)
    })

    it('pages newest first with limit and cursor, every session once', async () => {
      const made: string[] = []
      for (let i = 0; i < 7; i++) {
        const res = await admin('POST', '/v1/sessions', { user: `page-${i}`, labels: { paging: 'yes' } })
        made.push(res.json().id)
      }
      const seen: string[] = []
      let cursor: string | undefined
      let pages = 0
      do {
        const res = await admin('GET', `/v1/sessions?label=paging=yes&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
        expect(res.statusCode).toBe(200)
        seen.push(...res.json().sessions.map((s: { id: string }) => s.id))
        cursor = res.json().nextCursor
        pages++
      } while (cursor && pages < 10)
      expect(pages).toBe(3)
      // every session once, newest first (sessions made in the same millisecond follow their ids)
      expect([...seen].sort()).toEqual([...made].sort())
      const created = await Promise.all(seen.map(async (id) => (await gw.store.getSession(id))!.createdAt))
      expect(created).toEqual([...created].sort((a, b) => b - a))
      expect((await admin('GET', '/v1/sessions?cursor=not-a-cursor')).statusCode).toBe(400)
      expect((await admin('GET', '/v1/sessions?limit=0')).statusCode).toBe(400)
      expect((await admin('GET', '/v1/sessions?limit=1001')).statusCode).toBe(400)
      for (const id of made) await admin('DELETE', `/v1/sessions/${id}`)
    })
  })

  describe('audit', () => {
    it('records creates, ends, key changes and policy changes with the acting key\'s name, pages and filters by time', async () => {
      const since = new Date().toISOString()
      const k = await newKey({ name: 'audited', users: ['aud-*'] })
      const s = await create(k.key, { user: 'aud-1' })
      expect(s.statusCode).toBe(201)
      expect((await call('DELETE', `/v1/sessions/${s.json().id}`, k.key)).statusCode).toBe(204)
      await admin('POST', `/v1/keys/${k.id}/rotate`)
      await admin('DELETE', `/v1/keys/${k.id}`)

      const all: Array<{ actor: string; action: string; target: string; keyId?: string }> = []
      let cursor: string | undefined
      do {
        const res = await admin('GET', `/v1/audit?since=${encodeURIComponent(since)}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
        expect(res.statusCode).toBe(200)
        expect(res.json().entries.length).toBeLessThanOrEqual(2)
        all.push(...res.json().entries)
        cursor = res.json().nextCursor
      } while (cursor)
      const mine = all.filter((e) => e.target === k.id || e.target === s.json().id)
      expect(mine.map((e) => `${e.actor} ${e.action}`)).toEqual([
        'admin key.create', 'audited session.create', 'audited session.end', 'admin key.rotate', 'admin key.revoke',
      ])
      expect(mine.find((e) => e.action === 'session.create')?.keyId).toBe(k.id)
      const later = await admin('GET', `/v1/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)
      expect(later.json().entries).toEqual([])
      expect((await admin('GET', '/v1/audit?since=yesterday')).statusCode).toBe(400)
    })
  })
})
