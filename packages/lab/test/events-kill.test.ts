// The event stream across a gateway killed with SIGKILL: what was committed before the kill, and
// what the next gateway writes on its start, reach a client resuming with Last-Event-ID, once each.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SseParser, type SseEvent } from '../../sdk/src/sse.ts'
import { KEY, exited, runGateway, type RunningGateway } from './gateway-process.test-util.ts'

interface Stream {
  readonly events: SseEvent[]
  close(): void
}

async function openStream(url: string, lastEventId?: string): Promise<Stream> {
  const ac = new AbortController()
  const res = await fetch(`${url}/v1/events`, { headers: { authorization: `Bearer ${KEY}`, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) }, signal: ac.signal })
  expect(res.status).toBe(200)
  const s: Stream = { events: [], close: () => ac.abort() }
  const parser = new SseParser()
  void (async () => {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) s.events.push(...parser.push(chunk))
    } catch {
      // aborted, or the gateway died
    }
  })()
  return s
}

async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const sessionOf = (e: SseEvent) => (JSON.parse(e.data) as { sessionId?: string }).sessionId

describe('GET /v1/events across kill -9 of the gateway', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lab-events-kill-'))
  const config = { driver: 'fake', pools: [{ name: 'default', driver: 'fake', policy: { kind: 'fixed', size: 2 } }] }
  let gw: RunningGateway | undefined
  afterAll(async () => {
    gw?.child.kill('SIGKILL')
    if (gw) await exited(gw.child)
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('resumes after the last event seen with every later event, those of the killed gateway and of the next, none twice', async () => {
    gw = await runGateway(dataDir, config)
    const first = await openStream(gw.url)
    const a = await gw.client.createSession({ user: 'alice' })
    await until(() => first.events.some((e) => e.event === 'session.running' && sessionOf(e) === a.id), "alice's session running")
    const lastSeen = first.events.at(-1)!.id!
    first.close()

    // while nobody listens: another session, then the gateway dies without a word
    const b = await gw.client.createSession({ user: 'bob' })
    const watcher = await openStream(gw.url, lastSeen)
    await until(() => watcher.events.some((e) => e.event === 'session.created' && sessionOf(e) === b.id), "bob's session created")
    watcher.close()
    gw.child.kill('SIGKILL')
    await exited(gw.child)

    // the next gateway finds the fake sandboxes gone with the process: it ends both sessions
    gw = await runGateway(dataDir, config)
    const resumed = await openStream(gw.url, lastSeen)
    await until(() => resumed.events.filter((e) => e.event === 'session.ended').length === 2, 'both sessions ended')
    const reference = await openStream(gw.url, '0')
    await until(() => reference.events.length > 0 && reference.events.at(-1)!.id === resumed.events.at(-1)!.id, 'the full log replayed')
    await new Promise((r) => setTimeout(r, 300))
    resumed.close()
    reference.close()

    const ids = resumed.events.map((e) => Number(e.id))
    expect(new Set(ids).size).toBe(ids.length) // no duplicate
    expect(ids).toEqual([...ids].sort((x, y) => x - y)) // in order
    expect(ids[0]).toBeGreaterThan(Number(lastSeen))
    // no loss: every event the log has after the id, from either gateway
    const after = reference.events.filter((e) => Number(e.id) > Number(lastSeen)).map((e) => Number(e.id))
    expect(ids.slice(0, after.length)).toEqual(after)
    expect(resumed.events.some((e) => e.event === 'session.created' && sessionOf(e) === b.id)).toBe(true)
    expect(resumed.events.filter((e) => e.event === 'session.ended').map(sessionOf).sort()).toEqual([a.id, b.id].sort())
  })
})
