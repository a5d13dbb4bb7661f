import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { SseParser, type SseEvent } from '../../../sdk/src/sse.ts'
import { ManualClock } from '../clock/manual-clock.ts'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import type { EventType } from '../store/types.ts'
import { SSE_HEARTBEAT_MS } from './sse.ts'
import { auth, startTestGateway, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

/** An open GET /v1/events read in the background: its events so far, and whether it ended. */
interface Stream {
  readonly status: number
  readonly events: SseEvent[]
  ended: boolean
  close(): void
}

async function openStream(gw: Gw, opts: { headers?: Record<string, string>; query?: string } = {}): Promise<Stream> {
  const ac = new AbortController()
  const res = await fetch(`${gw.url}/v1/events${opts.query ?? ''}`, { headers: opts.headers ?? auth, signal: ac.signal })
  const s: Stream = { status: res.status, events: [], ended: false, close: () => ac.abort() }
  if (res.status !== 200) {
    await res.body?.cancel()
    s.ended = true
    return s
  }
  const parser = new SseParser()
  void (async () => {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) s.events.push(...parser.push(chunk))
    } catch {
      // aborted, or cut by the gateway
    }
    s.ended = true
  })()
  return s
}

const data = (e: SseEvent) => JSON.parse(e.data) as { id: number; type: string; at: string; pool?: string; user?: string; sessionId?: string; data: Record<string, unknown> }
const ofType = (s: Stream, ...types: string[]) => s.events.filter((e) => types.includes(e.event))

function appendEvent(gw: Gw, type: EventType, user: string, pool = 'default') {
  return gw.store.appendEvent({ at: Date.now(), type, pool, user, sessionId: 'ses-abc', data: { n: 1 } })
}

async function createKey(gw: Gw, body: object): Promise<string> {
  const res = await gw.app.inject({ method: 'POST', url: '/v1/keys', headers: { ...auth, 'content-type': 'application/json' }, payload: body })
  expect(res.statusCode).toBe(201)
  return res.json().key as string
}

describe('GET /v1/events', () => {
  let gw: Gw | undefined
  const streams: Stream[] = []
  const open = async (g: Gw, opts?: Parameters<typeof openStream>[1]) => {
    const s = await openStream(g, opts)
    streams.push(s)
    return s
  }
  afterEach(async () => {
    for (const s of streams.splice(0)) s.close()
    await gw?.cleanup()
    gw = undefined
  })

  it("sends a session's events in order, each with its id and the documented JSON", async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 } }] })
    await waitFor(() => gw!.pools.get('default')!.controller.status().ready >= 1, 5000, 'pool to fill')
    const s = await open(gw)
    expect(s.status).toBe(200)
    const created = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: { user: 'alice', labels: { team: 'a' } } })
    const id = created.json().id as string
    await waitFor(async () => (await gw!.store.getSession(id))?.state === 'running', 5000, 'running')
    await gw.app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: auth })
    await waitFor(() => ofType(s, 'session.ended').length === 1, 5000, 'the ended event')
    const mine = ofType(s, 'session.created', 'session.running', 'session.ended')
    expect(mine.map((e) => e.event)).toEqual(['session.created', 'session.running', 'session.ended'])
    const ids = mine.map((e) => Number(e.id))
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    for (const e of mine) expect(data(e).id).toBe(Number(e.id))
    expect(data(mine[0]!)).toEqual({ id: ids[0], type: 'session.created', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), pool: 'default', user: 'alice', sessionId: id, data: { warm: true, labels: { team: 'a' } } })
    expect(data(mine[2]!).data).toEqual({ reason: 'terminated', endedBy: 'admin' })
  })

  it('gives a scoped key only the events of the users and pools it covers', async () => {
    // (a clock that stands still: the gateway's own pool.status events stay out of the expected lists)
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }, { name: 'other', policy: { kind: 'fixed', size: 0 } }] }, { clock: new ManualClock(Date.now()) })
    const teamA = await createKey(gw, { name: 'team-a', users: ['team-a-*'] })
    const otherPool = await createKey(gw, { name: 'other-pool', pools: ['other'] })
    const admin = await open(gw)
    const a = await open(gw, { headers: { authorization: `Bearer ${teamA}` } })
    const o = await open(gw, { headers: { authorization: `Bearer ${otherPool}` } })
    await appendEvent(gw, 'session.created', 'bob')
    await appendEvent(gw, 'session.created', 'team-a-1', 'other')
    await gw.store.appendEvent({ at: Date.now(), type: 'pool.status', pool: 'default', user: null, sessionId: null, data: { ready: 0 } })
    const last = await appendEvent(gw, 'session.ended', 'team-a-2')
    await waitFor(() => admin.events.some((e) => Number(e.id) === last), 5000, 'the admin stream')
    await waitFor(() => a.events.some((e) => Number(e.id) === last), 5000, "team-a's stream")
    expect(admin.events.map((e) => data(e).user ?? e.event)).toEqual(['bob', 'team-a-1', 'pool.status', 'team-a-2'])
    expect(a.events.map((e) => data(e).user ?? e.event)).toEqual(['team-a-1', 'pool.status', 'team-a-2'])
    await waitFor(() => o.events.length >= 1, 5000, "the other pool's stream")
    await new Promise((r) => setTimeout(r, 50))
    expect(o.events.map((e) => `${data(e).pool}/${data(e).user}`)).toEqual(['other/team-a-1'])
  })

  it('filters by ?types= and refuses types it does not know', async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }] })
    const s = await open(gw, { query: '?types=session.ended,session.expiring' })
    await appendEvent(gw, 'session.created', 'ada')
    await appendEvent(gw, 'session.expiring', 'ada')
    const last = await appendEvent(gw, 'session.ended', 'ada')
    await waitFor(() => s.events.some((e) => Number(e.id) === last), 5000, 'the ended event')
    expect(s.events.map((e) => e.event)).toEqual(['session.expiring', 'session.ended'])
    for (const q of ['?types=session.nope', '?types=', '?types=,', '?since=abc', '?color=red']) {
      const r = await gw.app.inject({ method: 'GET', url: `/v1/events${q}`, headers: auth })
      expect(r.statusCode, q).toBe(400)
      expect(r.json().error.code, q).toBe('validation_failed')
    }
    const badId = await gw.app.inject({ method: 'GET', url: '/v1/events', headers: { ...auth, 'last-event-id': '12; DROP' } })
    expect(badId.statusCode).toBe(400)
    expect(badId.json().error.details[0].field).toBe('last-event-id')
  })

  it('resumes after Last-Event-ID with exactly the events missed, then goes on live without a duplicate', async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }] })
    const first = await open(gw, { query: '?types=session.created' })
    const seen: number[] = []
    for (let i = 0; i < 3; i++) seen.push(await appendEvent(gw, 'session.created', `u${i}`))
    await waitFor(() => first.events.length === 3, 5000, 'three events')
    first.close()
    const missed: number[] = []
    for (let i = 0; i < 5; i++) missed.push(await appendEvent(gw, 'session.created', `m${i}`))
    const again = await open(gw, { headers: { ...auth, 'last-event-id': first.events.at(-1)!.id! }, query: '?types=session.created' })
    await waitFor(() => again.events.length === 5, 5000, 'the missed events')
    const live = await appendEvent(gw, 'session.created', 'live')
    await waitFor(() => again.events.length === 6, 5000, 'the live event')
    await new Promise((r) => setTimeout(r, 50))
    expect(again.events.map((e) => Number(e.id))).toEqual([...missed, live])
    // ?since= does the same for clients that cannot set the header
    const since = await open(gw, { query: `?since=${missed[3]}&types=session.created` })
    await waitFor(() => since.events.length === 2, 5000, 'the events after since')
    expect(since.events.map((e) => Number(e.id))).toEqual([missed[4], live])
  })

  it('loses nothing and repeats nothing when it resumes while events are being appended', async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }] })
    const start = await appendEvent(gw, 'session.created', 'before')
    const appended: number[] = []
    const writing = (async () => {
      for (let i = 0; i < 600; i++) {
        appended.push(await appendEvent(gw!, 'session.created', `w${i}`))
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1))
      }
    })()
    await new Promise((r) => setTimeout(r, 5))
    const s = await open(gw, { headers: { ...auth, 'last-event-id': String(start) }, query: '?types=session.created' })
    await writing
    await waitFor(() => s.events.length >= 600, 10_000, 'all 600 events')
    await new Promise((r) => setTimeout(r, 50))
    expect(s.events.map((e) => Number(e.id))).toEqual(appended)
  })

  it('answers 401 without a key and 429 past the streams a key may hold', async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }] })
    expect((await gw.app.inject({ method: 'GET', url: '/v1/events' })).statusCode).toBe(401)
    expect((await gw.app.inject({ method: 'GET', url: '/v1/events', headers: { authorization: 'Bearer wrong-key-0123456789' } })).statusCode).toBe(401)
    const key = await createKey(gw, { name: 'many' })
    const headers = { authorization: `Bearer ${key}` }
    for (let i = 0; i < 16; i++) expect((await open(gw, { headers })).status).toBe(200)
    const refused = await fetch(`${gw.url}/v1/events`, { headers })
    expect(refused.status).toBe(429)
    expect(((await refused.json()) as { error: unknown }).error).toMatchObject({ code: 'quota_exceeded', details: [{ limit: 'eventStreamsPerKey', value: 16 }] })
    expect(refused.headers.get('retry-after')).toBe('5')
    // another key, and the admin key, still get theirs
    expect((await open(gw)).status).toBe(200)
  })

  it('cuts off a client that stops reading instead of queueing for it', async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }] })
    const g = gw
    // a client that reads nothing: the socket's buffers fill, then the subscriber's queue
    const url = new URL(`${g.url}/v1/events?types=session.expiring`)
    let closed = false
    const req = request(url, { headers: auth }, (res) => {
      res.pause()
      res.socket.on('close', () => (closed = true))
    })
    req.end()
    await waitFor(() => g.events.subscriberCount === 1, 5000, 'the subscriber')
    const padding = 'x'.repeat(8192)
    for (let i = 0; i < 3000 && !closed; i++) {
      await g.store.appendEvent({ at: Date.now(), type: 'session.expiring', pool: 'default', user: 'ada', sessionId: 'ses-abc', data: { padding } })
    }
    await waitFor(() => closed, 10_000, 'the cut-off')
    expect(g.events.subscriberCount).toBe(0)
    req.destroy()
  })

  it('ends the stream of a key revoked while it is open, at the next heartbeat on the gateway clock', async () => {
    const clock = new ManualClock(Date.now())
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }] }, { clock })
    const res = await gw.app.inject({ method: 'POST', url: '/v1/keys', headers: { ...auth, 'content-type': 'application/json' }, payload: { name: 'soon-gone' } })
    const { id, key } = res.json() as { id: string; key: string }
    const s = await open(gw, { headers: { authorization: `Bearer ${key}` } })
    const kept = await open(gw)
    // the stream lives on the gateway's notify, not its poll timer: the manual clock stands still
    const e = await appendEvent(gw, 'session.created', 'ada')
    await waitFor(() => s.events.some((x) => Number(x.id) === e), 5000, 'an event')
    expect((await gw.app.inject({ method: 'DELETE', url: `/v1/keys/${id}`, headers: auth })).statusCode).toBe(204)
    clock.advance(SSE_HEARTBEAT_MS)
    await waitFor(() => s.ended, 5000, 'the revoked stream to end')
    clock.advance(SSE_HEARTBEAT_MS)
    await new Promise((r) => setTimeout(r, 50))
    expect(kept.ended).toBe(false)
  })
})
