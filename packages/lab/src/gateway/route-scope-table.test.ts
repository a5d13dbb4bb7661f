// Key scoping on every route, as a table generated from the served /openapi.json: each operation
// x each kind of caller -> the status it must get. Every operation must fall in one of the classes
// below (or the test fails naming it), so a new route cannot ship without deciding who may call it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { sha256Hex } from './auth.ts'
import { auth, startTestGateway, TEST_KEY, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>
interface Op { readonly method: string; readonly path: string; readonly adminOnly: boolean; readonly raw: boolean }

/** Served without any key. */
const PUBLIC = new Set(['/healthz', '/metrics', '/openapi.json'])
/** Checks an attach token itself: every key kind without the token is 401. */
const TOKEN = new Set(['/v1/sessions/{id}/terminal'])
/**
 * Any valid key; what it answers is filtered to the key's scope (tenancy.test.ts checks the
 * filtering). /mcp's tools call these same routes in-process with the caller's key.
 */
const ANY_KEY_FILTERED = new Set(['GET /v1/sessions', 'GET /v1/pools', 'GET /v1/stats', 'GET /v1/events', 'POST /mcp', 'GET /mcp', 'DELETE /mcp'])

type Kind = 'admin' | 'scoped, in scope' | 'scoped, out of scope' | 'revoked' | 'expired' | 'none'
const KINDS: readonly Kind[] = ['admin', 'scoped, in scope', 'scoped, out of scope', 'revoked', 'expired', 'none']

/** What a kind of caller must get: an exact status and error code, or `allowed` (past every auth and scope check). */
type Expected = { readonly status: number; readonly code: string } | 'allowed'

function classify(op: Op): 'admin' | 'session' | 'pool' | 'create' | 'any' | 'token' {
  const key = `${op.method} ${op.path}`
  if (TOKEN.has(op.path)) return 'token'
  if (op.adminOnly) return 'admin'
  if (op.path.startsWith('/v1/sessions/{id}')) return 'session'
  if (op.path.startsWith('/v1/pools/{name}')) return 'pool'
  if (key === 'POST /v1/sessions') return 'create'
  if (ANY_KEY_FILTERED.has(key)) return 'any'
  throw new Error(`${key} is in no class of route-scope-table.test.ts: decide whether it is admin-only, scoped by session or pool, or open to any key with filtered answers`)
}

function expected(op: Op, kind: Kind): Expected {
  const cls = classify(op)
  if (cls === 'token') return { status: 401, code: 'invalid_token' }
  if (kind === 'none' || kind === 'revoked' || kind === 'expired') return { status: 401, code: 'unauthorized' }
  if (kind === 'admin') return 'allowed'
  if (cls === 'admin') return { status: 403, code: 'forbidden' }
  if (kind === 'scoped, in scope') return 'allowed'
  switch (cls) {
    case 'session': return { status: 404, code: 'session_not_found' }
    case 'pool': return { status: 404, code: 'pool_not_found' }
    case 'create': return { status: 403, code: 'forbidden' }
    default: return 'allowed'
  }
}

describe('key scoping on every route (generated from /openapi.json)', () => {
  let gw: Gw
  let ops: Op[]
  const secrets: Partial<Record<Kind, string>> = {}
  let fresh = 0

  const adminCall = (method: string, url: string, body?: unknown) =>
    gw.app.inject({ method: method as 'POST', url, headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(body ?? {}) })
  async function newSession(user: string): Promise<string> {
    const res = await adminCall('POST', '/v1/sessions', { user, pool: 'default' })
    expect(res.statusCode, res.body).toBe(201)
    const id = res.json().id as string
    await waitFor(async () => (await gw.store.getSession(id))?.state === 'running', 5000, 'running')
    return id
  }

  beforeAll(async () => {
    gw = await startTestGateway(new FakeDriver(), {
      pools: [
        { name: 'default', policy: { kind: 'fixed', size: 4 }, maxSize: 200 },
        { name: 'other', policy: { kind: 'fixed', size: 1 }, maxSize: 4 },
      ],
    })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 4, 10_000, 'the pool to fill')
    const doc = (await gw.app.inject('/openapi.json')).json() as { paths: Record<string, Record<string, { 'x-admin-only'?: boolean; requestBody?: { content: Record<string, unknown> } }>> }
    ops = Object.entries(doc.paths).filter(([path]) => !PUBLIC.has(path)).flatMap(([path, methods]) => Object.entries(methods).map(([m, o]) => ({
      method: m.toUpperCase(), path, adminOnly: o['x-admin-only'] === true,
      raw: Object.keys(o.requestBody?.content ?? {}).some((t) => t !== 'application/json'),
    })))
    const scoped = await adminCall('POST', '/v1/keys', { name: 'table-scoped', users: ['in-*'], pools: ['default'] })
    secrets['scoped, in scope'] = secrets['scoped, out of scope'] = scoped.json().key
    const revoked = await adminCall('POST', '/v1/keys', { name: 'table-revoked' })
    await adminCall('DELETE', `/v1/keys/${revoked.json().id}`)
    secrets.revoked = revoked.json().key
    secrets.expired = 'ilk_table-expired-secret'
    await gw.store.insertKey({
      id: 'key-tableexpired', name: 'table-expired', secretHash: sha256Hex(secrets.expired), users: null, pools: null,
      maxSessions: null, createsPerMin: null, expiresAt: Date.now() - 1000, createdAt: Date.now() - 60_000,
    })
    secrets.admin = TEST_KEY
  }, 60_000)
  afterAll(async () => {
    await gw?.cleanup()
  })

  it('every operation is in a class, and the admin-only ones are exactly the key, webhook and audit routes', () => {
    expect(ops.length).toBeGreaterThan(20)
    for (const op of ops) expect(() => classify(op), `${op.method} ${op.path}`).not.toThrow()
    const adminOnly = ops.filter((o) => o.adminOnly).map((o) => o.path)
    expect(adminOnly.length).toBeGreaterThan(0)
    for (const p of adminOnly) expect(p, 'an admin-only route').toMatch(/^\/v1\/(keys|webhooks|audit)(\/|$)/)
    for (const o of ops.filter((x) => /^\/v1\/(keys|webhooks|audit)(\/|$)/.test(x.path))) expect(o.adminOnly, `${o.method} ${o.path}`).toBe(true)
  })

  it('answers every operation x key kind as the table says', async () => {
    // read-only operations share one session of each kind; one that may change it gets its own
    const shared = { in: await newSession('in-shared'), out: await newSession('out-shared') }
    const wrong: string[] = []
    let checked = 0
    for (const op of ops) {
      for (const kind of KINDS) {
        const want = expected(op, kind)
        const outside = kind === 'scoped, out of scope'
        const mutating = op.method !== 'GET' && want === 'allowed' && classify(op) === 'session'
        const sessionId = mutating ? await newSession(`in-fresh-${fresh++}`) : outside ? shared.out : shared.in
        const url = op.path
          .replace('{id}', op.path.startsWith('/v1/sessions/') ? sessionId : op.path.startsWith('/v1/keys/') ? 'key-doesnotexist' : 'wh-doesnotexist')
          .replace('{name}', outside ? 'other' : 'default')
          .replace('{processId}', 'proc-aaaaaaaaaaaaaaaaaaaa')
        const body = op.raw ? Buffer.from('data') : JSON.stringify(op.path === '/v1/sessions' ? { user: outside ? 'out-x' : `in-create-${fresh++}` } : {})
        const headers: Record<string, string> = {
          ...(secrets[kind] ? { authorization: `Bearer ${secrets[kind]}` } : {}),
          ...(op.method === 'POST' || op.method === 'PUT' ? { 'content-type': op.raw ? 'application/octet-stream' : 'application/json' } : {}),
          accept: 'application/json, text/event-stream',
        }
        // a real request, read only to its status and (for errors) its JSON: streams are cut once the head arrived
        const ac = new AbortController()
        const res = await fetch(`${gw.url}${url}${op.path.endsWith('/files') ? '?path=a.txt' : ''}`, {
          method: op.method, headers, signal: ac.signal, ...(op.method === 'POST' || op.method === 'PUT' ? { body } : {}),
        })
        const code = res.status >= 400 && res.headers.get('content-type')?.includes('json') ? ((await res.json()) as { error?: { code?: string } }).error?.code : undefined
        ac.abort()
        checked++
        const got = `${res.status} ${code ?? ''}`.trim()
        if (want === 'allowed') {
          const refusedByAuth = res.status === 401 || res.status === 403 || code === 'session_not_found' || code === 'pool_not_found'
          if (refusedByAuth) wrong.push(`${op.method} ${op.path} as ${kind}: got ${got}, want it allowed`)
        } else if (res.status !== want.status || code !== want.code) {
          wrong.push(`${op.method} ${op.path} as ${kind}: got ${got}, want ${want.status} ${want.code}`)
        }
      }
    }
    expect(wrong).toEqual([])
    expect(checked).toBe(ops.length * KINDS.length)
    // nothing out of scope was ended by a scoped key
    expect((await gw.store.getSession(shared.out))?.state).not.toBe('ended')
  }, 120_000)
})
