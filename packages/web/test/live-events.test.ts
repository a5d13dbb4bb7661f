import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { InfraLab } from '@infra-lab/sdk'
import { afterEach, describe, expect, it } from 'vitest'
import { followEvents, type LabEvent, type LiveState } from '../app/live-events.ts'

// The dashboard's event stream client against a small server that speaks GET /v1/events' format
// (`id: N`, `event: <type>`, `data: <json>`): parsing across chunks, resuming after a break with
// Last-Event-ID, and going quiet on a gateway without the route.

const KEY = 'k-0123456789'
const event = (id: number, type = 'session.created') =>
  `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify({ id, type, at: new Date(0).toISOString(), pool: 'default', user: 'ada', sessionId: `ses-${id}`, data: {} })}\n\n`

interface Seen { url: string; headers: IncomingMessage['headers'] }

async function serve(handle: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers })
    if (req.headers.authorization !== `Bearer ${KEY}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unauthorized', message: 'wrong API key' } }))
      return
    }
    handle(seen.length, req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('the dashboard follows GET /v1/events', () => {
  let server: Server | undefined
  let stop: (() => void) | undefined
  afterEach(async () => {
    stop?.()
    server?.closeAllConnections()
    await new Promise((r) => server?.close(r))
  })

  it('reads events split across chunks, and resumes after a break from the last id it saw, the key in a header only', async () => {
    const s = await serve((n, _req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      if (n === 1) {
        const first = event(1)
        res.write(`: hello\n${first.slice(0, 20)}`)
        setTimeout(() => {
          res.write(`${first.slice(20)}${event(2, 'session.running')}`)
          // the connection breaks mid-event: that half event is never delivered
          setTimeout(() => { res.write('id: 99\ndata: {"id":99'); res.socket?.destroy() }, 20)
        }, 20)
      } else {
        res.write(event(3, 'session.ended'))
      }
    })
    server = s.server
    const got: LabEvent[] = []
    const states: LiveState[] = []
    stop = followEvents(new InfraLab({ url: s.url, apiKey: KEY }), { onEvent: (e) => got.push(e), onState: (st) => states.push(st), retryDelayMs: () => 10 })
    await until(() => got.length >= 3, 'three events')
    expect(got.map((e) => [e.id, e.type])).toEqual([[1, 'session.created'], [2, 'session.running'], [3, 'session.ended']])
    expect(got[0]).toMatchObject({ pool: 'default', user: 'ada', sessionId: 'ses-1' })
    expect(s.seen).toHaveLength(2)
    expect(s.seen[0]!.headers['last-event-id']).toBeUndefined()
    expect(s.seen[1]!.headers['last-event-id']).toBe('2')
    for (const r of s.seen) {
      expect(r.url).toBe('/v1/events')
      expect(r.headers.authorization).toBe(`Bearer ${KEY}`)
      expect(r.headers.accept).toBe('text/event-stream')
    }
    expect(states.slice(0, 4)).toEqual(['connecting', 'live', 'reconnecting', 'live'])
  })

  it('keeps reconnecting while the gateway is down, and carries on from its last id when it is back', async () => {
    let down = true
    const s = await serve((n, _req, res) => {
      if (n === 1) return void res.writeHead(200, { 'content-type': 'text/event-stream' }).end(event(7))
      if (down) return void res.socket?.destroy()
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write(event(8))
    })
    server = s.server
    const got: number[] = []
    stop = followEvents(new InfraLab({ url: s.url, apiKey: KEY }), { onEvent: (e) => got.push(e.id), retryDelayMs: () => 5 })
    await until(() => s.seen.length >= 4, 'retries while down')
    down = false
    await until(() => got.length >= 2, 'the event after the outage')
    expect(got).toEqual([7, 8])
    expect(s.seen.slice(1).every((r) => r.headers['last-event-id'] === '7')).toBe(true)
  })

  it('goes quiet on a gateway without the stream (404) or a key it refuses (401): no retries, the page polls', async () => {
    const s = await serve((_n, _req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found', message: 'no route GET /v1/events' } }))
    })
    server = s.server
    const states: LiveState[] = []
    stop = followEvents(new InfraLab({ url: s.url, apiKey: KEY }), { onEvent: () => undefined, onState: (st) => states.push(st), retryDelayMs: () => 1 })
    await until(() => states.includes('unavailable'), 'unavailable')
    const wrong: LiveState[] = []
    const stopWrong = followEvents(new InfraLab({ url: s.url, apiKey: 'not-the-key' }), { onEvent: () => undefined, onState: (st) => wrong.push(st), retryDelayMs: () => 1 })
    await until(() => wrong.includes('unavailable'), 'unavailable for a wrong key')
    stopWrong()
    await new Promise((r) => setTimeout(r, 50))
    expect(s.seen).toHaveLength(2)
    expect(states).toEqual(['connecting', 'unavailable'])
  })

  it('stops reading when stopped', async () => {
    const s = await serve((_n, _req, res) => void res.writeHead(200, { 'content-type': 'text/event-stream' }).write(event(1)))
    server = s.server
    const got: number[] = []
    stop = followEvents(new InfraLab({ url: s.url, apiKey: KEY }), { onEvent: (e) => got.push(e.id), retryDelayMs: () => 1 })
    await until(() => got.length === 1, 'the first event')
    stop()
    await new Promise((r) => setTimeout(r, 50))
    expect(s.seen).toHaveLength(1)
    expect(got).toEqual([1])
  })
})
