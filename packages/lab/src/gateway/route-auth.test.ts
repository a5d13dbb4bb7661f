// Authentication is decided by the matched route. Every operation of the OpenAPI document is
// asked without the key, with a wrong key and with an attach token in the key's place, under
// every odd spelling of its path an attacker might try; none may answer 2xx or change state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { TEST_KEY, auth, startTestGateway, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>
type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD'
interface Operation { readonly method: Method; readonly path: string; readonly secured: boolean }

/** Paths the API serves without the key. The terminal checks its own attach token. */
const PUBLIC_PATHS = new Set(['/healthz', '/metrics', '/openapi.json'])
const TOKEN_PATHS = new Set(['/v1/sessions/{id}/terminal'])

/** Every operation of the served /openapi.json, which is generated from the registered routes. */
let doc: { paths: Record<string, Record<string, { security?: unknown[] }>> }
function operations(): Operation[] {
  const ops: Operation[] = []
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      ops.push({ method: method.toUpperCase() as Method, path, secured: (op.security ?? []).length > 0 })
      // fastify answers HEAD on every GET route: the same check must hold there
      if (method === 'get') ops.push({ method: 'HEAD', path, secured: (op.security ?? []).length > 0 })
    }
  }
  return ops
}

/** The path spelled every way that might reach a route while dodging a check on the URL. */
function spellings(path: string): string[] {
  const tail = path.replace(/^\/v1\//, '')
  return [
    path,
    `${path}?/terminal`,
    `${path}?x=/terminal`,
    `${path}?token=/terminal`,
    `${path}#/terminal`,
    `${path}/terminal`,
    `${path}/x`,
    `${path}/`,
    `${path};/terminal`,
    `${path};jsessionid=/terminal`,
    `${path}%2Fterminal`,
    `${path}%2F`,
    `/${path}`,
    `/v1//${tail}`,
    `/v1/./${tail}`,
    `/v1%2F${tail}`,
    `/v1/${tail.replaceAll('/', '%2F')}`,
    `/v1/${tail}/../terminal`,
    path.toUpperCase(),
    path.replace('/v1/', '/V1/'),
  ]
}

describe('authentication by matched route', () => {
  let gw: Gw
  let victim: { id: string; attach: { token: string } }
  const snapshot = async () => JSON.stringify(await gw.store.listSessions())

  beforeAll(async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 8 }] })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2, 5000, 'pool to fill')
    const res = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: { user: 'victim' } })
    expect(res.statusCode).toBe(201)
    victim = res.json()
    await waitFor(async () => (await gw.store.getSession(victim.id))?.state === 'running', 5000, 'running')
    doc = (await gw.app.inject('/openapi.json')).json()
  })
  afterAll(async () => {
    await gw?.cleanup()
  })

  /** POST and PUT carry a body of each kind a keyed route takes: JSON, or raw bytes (files, stdin). */
  async function ask(method: Method, url: string, headers: Record<string, string>, raw = false) {
    const body = method === 'POST' || method === 'PUT'
      ? raw
        ? { payload: Buffer.from('#!/bin/sh\necho pwned\n'), headers: { ...headers, 'content-type': 'application/octet-stream' } }
        : { payload: JSON.stringify({ user: 'mallory', cmd: 'touch /tmp/pwned', signal: 'SIGKILL' }), headers: { ...headers, 'content-type': 'application/json' } }
      : { headers }
    return gw.app.inject({ method, url, ...body })
  }

  it('the OpenAPI document secures every operation except the public and attach-token ones', () => {
    // the exec and file routes are listed because they are registered, not because a list names them
    const paths = new Set(operations().map((o) => `${o.method} ${o.path}`))
    for (const op of ['POST /v1/sessions/{id}/exec', 'GET /v1/sessions/{id}/processes', 'GET /v1/sessions/{id}/processes/{processId}/output',
      'POST /v1/sessions/{id}/processes/{processId}/stdin', 'POST /v1/sessions/{id}/processes/{processId}/signal',
      'GET /v1/sessions/{id}/files', 'PUT /v1/sessions/{id}/files', 'DELETE /v1/sessions/{id}/files']) expect(paths, op).toContain(op)
    for (const op of operations()) {
      const expected = !PUBLIC_PATHS.has(op.path) && !TOKEN_PATHS.has(op.path)
      expect(op.secured, `${op.method} ${op.path}`).toBe(expected)
      // a documented path the gateway does not serve would make the checks below vacuous
      expect(gw.app.hasRoute({ method: op.method, url: op.path.replace(/\{(\w+)\}/g, ':$1') }), `${op.method} ${op.path}`).toBe(true)
    }
  })

  const callers: Array<[string, () => Record<string, string>]> = [
    ['no key', () => ({})],
    ['a wrong key', () => ({ authorization: `Bearer ${TEST_KEY}x` })],
    ['an attach token as the key', () => ({ authorization: `Bearer ${victim.attach.token}` })],
  ]

  for (const [who, headers] of callers) {
    it(`refuses every keyed operation, however its path is spelled, to a caller with ${who}`, async () => {
      const before = await snapshot()
      const leaks: string[] = []
      for (const op of operations().filter((o) => o.secured || TOKEN_PATHS.has(o.path))) {
        const path = op.path.replace('{id}', victim.id).replace('{name}', 'default').replace('{processId}', 'proc-aaaaaaaaaaaaaaaaaaaa')
        for (const url of spellings(path).flatMap((u) => [u, `${u}${u.includes('?') ? '&' : '?'}path=.bashrc&follow=1`])) {
          for (const raw of op.method === 'POST' || op.method === 'PUT' ? [false, true] : [false]) {
            const res = await ask(op.method, url, headers(), raw)
            if (res.statusCode !== 401 && res.statusCode !== 404) leaks.push(`${op.method} ${url} ${raw ? 'raw' : 'json'} -> ${res.statusCode}`)
          }
        }
      }
      expect(leaks).toEqual([])
      expect(await snapshot()).toBe(before)
    })
  }

  it('the three reproduced bypasses through "?/terminal" answer 401 and change nothing', async () => {
    const before = await snapshot()
    const create = await ask('POST', '/v1/sessions?/terminal', {})
    expect(create.statusCode).toBe(401)
    expect(create.json().error.code).toBe('unauthorized')
    const attach = await ask('POST', `/v1/sessions/${victim.id}/attach?/terminal`, {})
    expect(attach.statusCode).toBe(401)
    expect(attach.body).not.toContain('token')
    const stats = await ask('GET', '/v1/stats?/terminal', {})
    expect(stats.statusCode).toBe(401)
    expect(stats.body).not.toContain('victim')
    expect(await snapshot()).toBe(before)
    expect(gw.pools.get('default')!.controller.status().claimed).toBe(1)
  })

  it('a session id spelled "terminal" does not open the keyed session routes', async () => {
    for (const [method, url] of [['GET', '/v1/sessions/terminal'], ['DELETE', '/v1/sessions/terminal'], ['POST', '/v1/sessions/terminal/attach']] as const) {
      expect((await ask(method, url, {})).statusCode, `${method} ${url}`).toBe(401)
    }
  })

  it('the terminal without a valid attach token answers 401, even with the API key', async () => {
    const url = `/v1/sessions/${victim.id}/terminal`
    expect((await ask('GET', url, {})).statusCode).toBe(401)
    expect((await ask('GET', url, auth)).statusCode).toBe(401)
    expect((await ask('GET', `${url}?token=${TEST_KEY}`, {})).statusCode).toBe(401)
  })

  it('keyed operations do not accept the attach token in the query either', async () => {
    const before = await snapshot()
    for (const url of [`/v1/sessions?token=${victim.attach.token}`, `/v1/sessions/${victim.id}?token=${victim.attach.token}`]) {
      expect((await ask('GET', url, {})).statusCode, url).toBe(401)
    }
    expect((await ask('POST', `/v1/sessions?token=${victim.attach.token}`, {})).statusCode).toBe(401)
    expect(await snapshot()).toBe(before)
  })

  it('serves the public paths and the web app without a key, and the key still opens /v1', async () => {
    for (const url of ['/healthz', '/metrics', '/openapi.json', '/']) {
      expect((await gw.app.inject({ method: 'GET', url })).statusCode, url).toBe(200)
    }
    expect((await ask('GET', '/v1/stats', auth)).statusCode).toBe(200)
    expect((await ask('GET', `/v1/sessions/${victim.id}`, auth)).statusCode).toBe(200)
  })
})
