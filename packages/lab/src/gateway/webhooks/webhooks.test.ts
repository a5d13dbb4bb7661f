import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../clock/manual-clock.ts'
import { FakeDriver } from '../../drivers/fake/fake-driver.ts'
import { auth, startTestGateway, waitFor, type TestGatewayOptions } from '../test-gateway.test-util.ts'
import { GIVE_UP_AFTER_MS, RETRY_MAX_MS } from './worker.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>
const json = { ...auth, 'content-type': 'application/json' }
const POOLS = { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }] }

/** A webhook receiver on 127.0.0.1 that answers `status` (or is down), and keeps what it got. */
class Receiver {
  readonly got: { headers: IncomingHttpHeaders; body: string }[] = []
  status = 200
  port = 0
  private server: Server | undefined

  async up(): Promise<this> {
    const server = createServer((req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => (body += c))
      req.on('end', () => {
        this.got.push({ headers: req.headers, body })
        res.writeHead(this.status).end(this.status >= 300 ? 'not today' : 'ok')
      })
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    this.port = (server.address() as AddressInfo).port
    this.server = server
    return this
  }

  /** Connections are refused from now on (the port stays this receiver's to come back on). */
  async down(): Promise<void> {
    const s = this.server
    this.server = undefined
    s?.closeAllConnections()
    await new Promise((r) => s?.close(r))
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`
  }
}

/** What a receiver does: recompute the HMAC of "<t>.<body>" with the secret, compare in constant time. */
function verify(secret: string, header: string, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header)
  if (!m) return false
  const expected = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest()
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'))
}

describe('webhooks', () => {
  let gw: Gw | undefined
  const receivers: Receiver[] = []
  const receiver = async () => {
    const r = await new Receiver().up()
    receivers.push(r)
    return r
  }
  const start = async (config: Record<string, unknown> = {}, opts: TestGatewayOptions = {}) => {
    gw = await startTestGateway(new FakeDriver(), { ...POOLS, ...config }, opts)
    return gw
  }
  afterEach(async () => {
    await gw?.cleanup()
    gw = undefined
    for (const r of receivers.splice(0)) await r.down()
  })

  const create = (g: Gw, body: unknown, headers: Record<string, string> = json) =>
    g.app.inject({ method: 'POST', url: '/v1/webhooks', headers, payload: JSON.stringify(body) })
  const list = async (g: Gw) => (await g.app.inject({ method: 'GET', url: '/v1/webhooks', headers: auth })).json().webhooks as Record<string, unknown>[]
  const event = (g: Gw, type: 'session.created' | 'session.ended' = 'session.ended', at?: number) =>
    g.store.appendEvent({ at: at ?? Date.now(), type, pool: 'default', user: 'ada', sessionId: 'ses-abc', data: { reason: 'exited' } })

  it('are for the admin key only: 401 without a key, 403 for a scoped one; the secret is shown once; creates and deletes are audited', async () => {
    const g = await start({ allowPrivateWebhooks: true })
    const r = await receiver()
    const scopedKey = (await g.app.inject({ method: 'POST', url: '/v1/keys', headers: json, payload: { name: 'team' } })).json().key as string
    const scoped = { authorization: `Bearer ${scopedKey}`, 'content-type': 'application/json' }
    const body = { url: r.url, events: ['session.ended'] }
    expect((await create(g, body, { 'content-type': 'application/json' })).statusCode).toBe(401)
    expect((await create(g, body, scoped)).statusCode).toBe(403)
    expect((await g.app.inject({ method: 'GET', url: '/v1/webhooks', headers: scoped })).statusCode).toBe(403)
    expect((await g.app.inject({ method: 'GET', url: '/v1/webhooks' })).statusCode).toBe(401)

    const res = await create(g, { url: r.url, events: ['session.ended', 'session.created', 'session.ended'] })
    expect(res.statusCode).toBe(201)
    const created = res.json()
    expect(created).toEqual({ id: expect.stringMatching(/^wh-[a-z0-9]+$/), url: r.url, events: ['session.ended', 'session.created'], secret: expect.stringMatching(/^whsec_/), createdAt: expect.any(String) })
    const listed = await g.app.inject({ method: 'GET', url: '/v1/webhooks', headers: auth })
    expect(listed.body).not.toContain(created.secret)
    expect(listed.json().webhooks).toEqual([{ id: created.id, url: r.url, events: ['session.ended', 'session.created'], createdAt: created.createdAt, createdBy: 'admin', pending: 0 }])
    // the store keeps it sealed, not in clear
    expect(JSON.stringify(await g.store.listWebhooks())).not.toContain(created.secret)

    expect((await g.app.inject({ method: 'DELETE', url: `/v1/webhooks/${created.id}`, headers: scoped })).statusCode).toBe(403)
    expect((await g.app.inject({ method: 'DELETE', url: `/v1/webhooks/${created.id}`, headers: auth })).statusCode).toBe(204)
    const again = await g.app.inject({ method: 'DELETE', url: `/v1/webhooks/${created.id}`, headers: auth })
    expect([again.statusCode, again.json().error.code]).toEqual([404, 'webhook_not_found'])
    expect((await g.app.inject({ method: 'DELETE', url: '/v1/webhooks/../keys', headers: auth })).statusCode).toBe(404)
    expect((await g.app.inject({ method: 'DELETE', url: '/v1/webhooks/WH-X', headers: auth })).statusCode).toBe(400)
    const audit = (await g.app.inject({ method: 'GET', url: '/v1/audit', headers: auth })).json().entries as { action: string; target: string; actor: string }[]
    expect(audit.filter((a) => a.action.startsWith('webhook.')).map((a) => [a.action, a.target, a.actor])).toEqual([['webhook.create', created.id, 'admin'], ['webhook.delete', created.id, 'admin']])
  })

  it('refuses bad bodies and URLs, and internal addresses unless the gateway allows them', async () => {
    const g = await start()
    const refused = async (body: unknown, field: string) => {
      const res = await create(g, body)
      expect(res.statusCode, JSON.stringify(body)).toBe(400)
      expect(res.json().error.details.map((d: { field: string }) => d.field), JSON.stringify(body)).toContain(field)
      return res.json().error.message as string
    }
    const events = ['session.ended']
    for (const url of ['http://127.0.0.1:9/x', 'http://localhost:9/x', 'http://[::1]/', 'http://169.254.169.254/latest/meta-data', 'http://10.1.2.3/',
      'http://192.168.0.1/', 'http://0.0.0.0/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:a9fe:a9fe]/', 'http://224.0.0.1/', 'http://[fe80::1]/']) {
      expect(await refused({ url, events }, 'url'), url).toMatch(/loopback, private, link-local|does not resolve/)
    }
    for (const url of ['ftp://example.com/', 'file:///etc/passwd', 'http://user:pw@example.com/', 'not a url', `https://example.com/${'a'.repeat(2100)}`]) await refused({ url, events }, 'url')
    await refused({ url: 'https://93.184.215.14/', events: [] }, 'events')
    await refused({ url: 'https://93.184.215.14/', events: ['session.nope'] }, 'events.0')
    await refused({ url: 'https://93.184.215.14/', events, secret: 'mine' }, 'secret')
    expect((await g.app.inject({ method: 'POST', url: '/v1/webhooks', headers: json, payload: '{"url": ' })).json().error.code).toBe('invalid_json')
    const big = await g.app.inject({ method: 'POST', url: '/v1/webhooks', headers: json, payload: JSON.stringify({ url: 'https://93.184.215.14/', events, pad: 'x'.repeat(600 * 1024) }) })
    expect(big.statusCode).toBe(413)
    // a public address is fine, and nothing was stored for the refused ones
    expect((await create(g, { url: 'https://93.184.215.14/hook', events })).statusCode).toBe(201)
    expect((await list(g)).map((w) => w.url)).toEqual(['https://93.184.215.14/hook'])
  })

  it('POSTs each wanted event signed with the secret, to the address it checked (a name is resolved once, by the gateway)', async () => {
    const r = await receiver()
    const g = await start({ allowPrivateWebhooks: true }, { webhookLookup: async (host) => (host === 'hooks.test' ? ['127.0.0.1'] : []) })
    const res = await create(g, { url: `http://hooks.test:${r.port}/in`, events: ['session.ended'] })
    expect(res.statusCode).toBe(201)
    const { secret } = res.json() as { secret: string }
    await event(g, 'session.created') // not wanted
    const id = await event(g, 'session.ended')
    await waitFor(() => r.got.length === 1, 5000, 'the delivery')
    const [got] = r.got
    expect(got!.headers['content-type']).toBe('application/json')
    expect(got!.headers['x-infra-lab-event']).toBe('session.ended')
    expect(got!.headers['x-infra-lab-delivery']).toMatch(/^dlv-[0-9a-f]{20}$/)
    expect(got!.headers.host).toBe(`hooks.test:${r.port}`)
    expect(JSON.parse(got!.body)).toEqual({ id, type: 'session.ended', at: expect.any(String), pool: 'default', user: 'ada', sessionId: 'ses-abc', data: { reason: 'exited' } })
    const sig = got!.headers['x-infra-lab-signature'] as string
    expect(verify(secret, sig, got!.body)).toBe(true)
    expect(verify('whsec_another', sig, got!.body)).toBe(false)
    expect(verify(secret, sig, got!.body.replace('exited', 'killed'))).toBe(false)
    expect(Math.abs(Number(/t=(\d+)/.exec(sig)![1]) - Date.now() / 1000)).toBeLessThan(60)
    await waitFor(async () => (await list(g))[0]!.lastStatus === 200, 5000, 'the delivery recorded')
    expect((await list(g))[0]).toMatchObject({ lastStatus: 200, pending: 0 })
    expect((await list(g))[0]).not.toHaveProperty('lastError')
  })

  it('refuses at connect time a name that resolves to an internal address since it was created (DNS rebinding)', async () => {
    const r = await receiver()
    let answers = 0
    // public when the webhook is created, loopback when it is delivered
    const g = await start({}, { webhookLookup: async () => (answers++ === 0 ? ['93.184.215.14'] : ['127.0.0.1']) })
    expect((await create(g, { url: `http://rebind.test:${r.port}/in`, events: ['session.ended'] })).statusCode).toBe(201)
    await event(g)
    await waitFor(async () => (await list(g))[0]!.lastError !== undefined, 5000, 'the refused attempt')
    expect((await list(g))[0]).toMatchObject({ pending: 1, lastError: expect.stringContaining('rebind.test resolves to 127.0.0.1') })
    expect((await list(g))[0]).not.toHaveProperty('lastStatus')
    expect(r.got).toEqual([])
  })

  it('retries with back-off on the gateway clock while the receiver is down or failing, and delivers once it answers 2xx', async () => {
    const clock = new ManualClock(Date.now())
    const r = await receiver()
    await r.down()
    const g = await start({ allowPrivateWebhooks: true }, { clock })
    const res = await create(g, { url: r.url, events: ['session.ended'] })
    await event(g, 'session.ended', clock.now())
    // attempt 1: connection refused
    await waitFor(async () => /ECONNREFUSED/.test(String((await list(g))[0]!.lastError)), 5000, 'the refused attempt')
    expect((await list(g))[0]).toMatchObject({ pending: 1 })
    // attempt 2, 10 s (+-20 %) later: up, but failing
    await r.up()
    r.status = 500
    clock.advance(7_000)
    await new Promise((res2) => setTimeout(res2, 100))
    expect(r.got).toHaveLength(0) // not before its time
    clock.advance(6_000)
    await waitFor(async () => (await list(g))[0]!.lastStatus === 500, 5000, 'the failing attempt')
    expect((await list(g))[0]).toMatchObject({ lastError: 'HTTP 500: not today', pending: 1 })
    // attempt 3, 20 s later: delivered, the same delivery id as the failed one
    r.status = 204
    clock.advance(25_000)
    await waitFor(async () => (await list(g))[0]!.lastStatus === 204, 5000, 'the delivery')
    expect((await list(g))[0]).toMatchObject({ pending: 0 })
    expect(r.got.map((x) => x.headers['x-infra-lab-delivery'])).toEqual([r.got[0]!.headers['x-infra-lab-delivery'], r.got[0]!.headers['x-infra-lab-delivery']])
    expect(r.got.every((x) => verify(res.json().secret, x.headers['x-infra-lab-signature'] as string, x.body))).toBe(true)
    clock.advance(RETRY_MAX_MS * 2)
    await new Promise((res2) => setTimeout(res2, 100))
    expect(r.got).toHaveLength(2)
  })

  it('keeps the retry state across a gateway restart: the next gateway makes the next attempt of the same delivery', async () => {
    const t0 = Date.now()
    const r = await receiver()
    r.status = 503
    const first = await start({ allowPrivateWebhooks: true }, { clock: new ManualClock(t0) })
    const { secret } = (await create(first, { url: r.url, events: ['session.ended'] })).json() as { secret: string }
    await event(first, 'session.ended', t0)
    await waitFor(() => r.got.length === 1, 5000, 'the first attempt')
    await waitFor(async () => (await list(first))[0]!.lastStatus === 503, 5000, 'the first attempt recorded')
    await first.stop()
    gw = undefined

    r.status = 200
    const clock = new ManualClock(t0 + 1000)
    const second = await start({ allowPrivateWebhooks: true }, { clock, dataDir: first.dataDir })
    await new Promise((res) => setTimeout(res, 100))
    expect(r.got).toHaveLength(1) // still waiting for its time
    clock.advance(13_000)
    await waitFor(() => r.got.length === 2, 5000, 'the retry after the restart')
    expect(r.got[1]!.headers['x-infra-lab-delivery']).toBe(r.got[0]!.headers['x-infra-lab-delivery'])
    expect(verify(secret, r.got[1]!.headers['x-infra-lab-signature'] as string, r.got[1]!.body)).toBe(true) // the secret opened after the restart
    await waitFor(async () => (await list(second))[0]!.lastStatus === 200, 5000, 'the delivery recorded')
    expect((await list(second))[0]).toMatchObject({ pending: 0 })
  })

  it('abandons a delivery 24 h after its event, after a last attempt at that time', async () => {
    const t0 = Date.now()
    const clock = new ManualClock(t0)
    const r = await receiver()
    r.status = 500
    const g = await start({ allowPrivateWebhooks: true }, { clock })
    await create(g, { url: r.url, events: ['session.ended'] })
    await event(g, 'session.ended', t0)
    await waitFor(() => r.got.length === 1, 5000, 'the first attempt')
    const attemptsAt: number[] = [clock.now()]
    while (clock.now() < t0 + GIVE_UP_AFTER_MS + RETRY_MAX_MS) {
      const before = r.got.length
      clock.advance(RETRY_MAX_MS * 1.25)
      await waitFor(async () => r.got.length > before || (await list(g))[0]!.pending === 0, 5000, 'the next attempt')
      if (r.got.length > before) attemptsAt.push(clock.now())
      if ((await list(g))[0]!.pending === 0) break
    }
    await waitFor(async () => (await list(g))[0]!.pending === 0, 5000, 'the delivery abandoned')
    // (the test's steps are longer than the waits: one attempt a step, about 20 in the 24 h)
    expect(r.got.length).toBeGreaterThan(15)
    expect(attemptsAt.at(-1)! - t0).toBeGreaterThanOrEqual(GIVE_UP_AFTER_MS)
    expect(attemptsAt.at(-2)! - t0).toBeLessThan(GIVE_UP_AFTER_MS)
    const n = r.got.length
    clock.advance(RETRY_MAX_MS * 3)
    await new Promise((res) => setTimeout(res, 100))
    expect(r.got.length).toBe(n)
  })
})
