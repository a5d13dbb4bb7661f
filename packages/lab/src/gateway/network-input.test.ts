// The network fields of create and the /network routes refuse bad input at the edge, naming the
// field, and a pool without a network refuses every policy but `none` (400 network_unavailable),
// creating nothing. The proxy itself is tested in egress/ and test/egress-*.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { auth, startTestGateway } from './test-gateway.test-util.ts'

describe('network policy input at the API edge', () => {
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  beforeAll(async () => {
    gw = await startTestGateway(new FakeDriver(), {
      pools: [
        { name: 'default', policy: { kind: 'fixed', size: 0 }, maxSize: 4 },
        // network: true on a driver without an egress proxy (fake): policies are refused too
        { name: 'netfake', network: true, policy: { kind: 'fixed', size: 0 }, maxSize: 4 },
      ],
    })
  })
  afterAll(async () => {
    await gw?.cleanup()
  })
  const json = { ...auth, 'content-type': 'application/json' }
  const post = (body: unknown) => gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: json, payload: JSON.stringify(body) })

  it('names each bad pattern, mode and credential field with 400 validation_failed and creates nothing', async () => {
    const cases: [unknown, string][] = [
      [{ egress: 'some' }, 'network.egress'],
      [{ egress: 'allow', allow: ['exa mple.com'] }, 'network.allow.0'],
      [{ egress: 'allow', allow: ['example.com', '*.'] }, 'network.allow.1'],
      [{ egress: 'allow', allow: ['203.0.113.0/33'] }, 'network.allow.0'],
      [{ egress: 'allow', allow: ['example.com:0'] }, 'network.allow.0'],
      [{ egress: 'allow', allow: ['example.com:70000'] }, 'network.allow.0'],
      [{ egress: 'allow', deny: ['1.2.3'] }, 'network.deny.0'],
      [{ egress: 'allow', allow: Array.from({ length: 257 }, (_, i) => `h${i}.example.com`) }, 'network.allow'],
      [{ egress: 'open', extra: true }, 'network.extra'],
    ]
    for (const [network, field] of cases) {
      const res = await post({ user: 'alice', pool: 'default', network })
      expect(res.statusCode, JSON.stringify(network).slice(0, 80)).toBe(400)
      expect(res.json().error.code).toBe('validation_failed')
      expect(res.json().error.details.map((d: { field: string }) => d.field)).toContain(field)
    }
    const badCreds: [unknown, string][] = [
      [{ host: '*.example.com', header: 'Authorization', value: 'x' }, 'credentials.0.host'],
      [{ host: 'api.example.com', header: 'Bad Header', value: 'x' }, 'credentials.0.header'],
      [{ host: 'api.example.com', header: 'Host', value: 'x' }, 'credentials.0.header'],
      [{ host: 'api.example.com', header: 'Authorization', value: 'a\r\nX-Evil: 1' }, 'credentials.0.value'],
      [{ host: 'api.example.com', header: 'Authorization', value: 'v'.repeat(9000) }, 'credentials.0.value'],
    ]
    for (const [cred, field] of badCreds) {
      const res = await post({ user: 'alice', pool: 'default', credentials: [cred] })
      expect(res.statusCode).toBe(400)
      expect(res.json().error.details.map((d: { field: string }) => d.field)).toContain(field)
      expect(res.body).not.toContain('X-Evil')
    }
    expect(await gw.store.listSessions()).toEqual([])
  })

  it('refuses a policy or credentials on a pool without a usable network: 400 network_unavailable, nothing claimed', async () => {
    for (const pool of ['default', 'netfake']) {
      for (const extra of [{ network: { egress: 'allow', allow: ['example.com'] } }, { network: { egress: 'open' } }, { credentials: [{ host: 'api.example.com', header: 'Authorization', value: 'Bearer s3cret' }] }]) {
        const res = await post({ user: 'alice', pool, ...extra })
        expect(res.statusCode).toBe(400)
        expect(res.json().error.code).toBe('network_unavailable')
        expect(res.body).not.toContain('s3cret')
      }
    }
    expect(await gw.store.listSessions()).toEqual([])
  })

  it('takes egress none anywhere, shows it, and refuses to open it later on a pool without a network', async () => {
    const res = await post({ user: 'alice', pool: 'default', network: { egress: 'none' } })
    expect(res.statusCode).toBe(201)
    const id = res.json().id as string
    const shown = await gw.app.inject({ method: 'GET', url: `/v1/sessions/${id}/network`, headers: auth })
    expect(shown.statusCode).toBe(200)
    expect(shown.json()).toEqual({ policy: { egress: 'none' }, credentials: [], denied: [] })
    const put = await gw.app.inject({ method: 'PUT', url: `/v1/sessions/${id}/network`, headers: json, payload: JSON.stringify({ egress: 'open' }) })
    expect(put.statusCode).toBe(400)
    expect(put.json().error.code).toBe('network_unavailable')
    const bad = await gw.app.inject({ method: 'PUT', url: `/v1/sessions/${id}/network`, headers: json, payload: JSON.stringify({ egress: 'allow', allow: ['no pe'] }) })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error.details[0].field).toBe('allow.0')
    await gw.app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: auth })
    const ended = await gw.app.inject({ method: 'PUT', url: `/v1/sessions/${id}/network`, headers: json, payload: JSON.stringify({ egress: 'none' }) })
    expect(ended.statusCode).toBe(409)
    expect(ended.json().error.code).toBe('session_ended')
  })

  it('answers 404 for an unknown session and 401 without the key on both routes', async () => {
    for (const method of ['GET', 'PUT'] as const) {
      const missing = await gw.app.inject({ method, url: '/v1/sessions/ses-doesnotexist/network', headers: json, payload: method === 'PUT' ? '{"egress":"none"}' : undefined })
      expect(missing.statusCode).toBe(404)
      const noKey = await gw.app.inject({ method, url: '/v1/sessions/ses-doesnotexist/network', headers: { 'content-type': 'application/json' }, payload: method === 'PUT' ? '{"egress":"none"}' : undefined })
      expect(noKey.statusCode).toBe(401)
    }
  })
})
