import { createServer } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { FakeDriver } from '../../lab/src/drivers/fake/fake-driver.ts'
import { TEST_KEY, startTestGateway, waitFor } from '../../lab/src/gateway/test-gateway.test-util.ts'
import {
  CapacityExhaustedError, GatewayUnreachableError, InfraLab, InfraLabError, PoolNotFoundError, SessionEndedError,
  SessionNotFoundError, UnauthorizedError, ValidationFailedError,
} from '../src/index.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

describe('InfraLab sessions, pools and errors (fake driver)', () => {
  let gw: Gw
  let lab: InfraLab

  beforeEach(async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 2 }] })
    lab = new InfraLab({ url: gw.url, apiKey: TEST_KEY, WebSocket })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2)
  })
  afterEach(async () => {
    await gw.cleanup()
  })

  it('creates, gets, lists and ends a session', async () => {
    const s = await lab.sessions.create({ user: 'alice', env: { EDITOR: 'vim' } })
    expect(s.id).toMatch(/^ses-/)
    expect(s.info).toMatchObject({ id: s.id, user: 'alice', pool: 'default', warm: true })
    expect(s.info).not.toHaveProperty('attach')
    expect((await lab.sessions.get(s.id)).info.user).toBe('alice')
    expect((await lab.sessions.list({ user: 'alice' })).map((x) => x.id)).toEqual([s.id])
    await s.end()
    await s.end() // ending twice is fine
    expect((await s.refresh()).state).toBe('ended')
    expect(s.info.endedReason).toBe('terminated')
    await expect(s.attach()).rejects.toBeInstanceOf(SessionEndedError)
  })

  it('lists pools and gets one', async () => {
    const pools = await lab.pools.list()
    expect(pools.map((p) => p.name)).toEqual(['default'])
    expect((await lab.pools.get('default')).status.ready).toBe(2)
    await expect(lab.pools.get('nope')).rejects.toBeInstanceOf(PoolNotFoundError)
  })

  it('throws the catalogue subclass with code, status, details and Retry-After', async () => {
    const bad = await lab.sessions.create({ user: '../etc' }).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(ValidationFailedError)
    expect(bad).toBeInstanceOf(InfraLabError)
    expect(bad).toMatchObject({ name: 'ValidationFailedError', code: 'validation_failed', status: 400, details: [{ field: 'user' }] })

    const missing = await lab.sessions.get('ses-doesnotexist').catch((e: unknown) => e)
    expect(missing).toBeInstanceOf(SessionNotFoundError)
    expect(missing).toMatchObject({ code: 'session_not_found', status: 404 })

    await lab.sessions.create({ user: 'a' })
    await lab.sessions.create({ user: 'b' })
    const full = await lab.sessions.create({ user: 'c' }).catch((e: unknown) => e)
    expect(full).toBeInstanceOf(CapacityExhaustedError)
    expect((full as CapacityExhaustedError).retryAfterS).toBeGreaterThan(0)

    const wrongKey = new InfraLab({ url: gw.url, apiKey: 'wrong' })
    await expect(wrongKey.sessions.list()).rejects.toBeInstanceOf(UnauthorizedError)
  })

  it('says the gateway is unreachable when nothing listens', async () => {
    const port = await freePort()
    const err = await new InfraLab({ url: `http://127.0.0.1:${port}`, apiKey: 'k' }).sessions.list().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GatewayUnreachableError)
    expect(err).toMatchObject({ code: 'unreachable', status: 0 })
    expect((err as Error).message).toMatch(new RegExp(`cannot reach the gateway at http://127.0.0.1:${port}.*ECONNREFUSED`))
  })

  it('refuses a bad url or a missing key at construction', () => {
    expect(() => new InfraLab({ url: 'localhost:8080', apiKey: 'k' })).toThrow(/url must be/)
    expect(() => new InfraLab({ url: 'http://127.0.0.1:1', apiKey: '' })).toThrow(/apiKey is required/)
  })

  it('passes an abort through as the abort, not as an unreachable gateway', async () => {
    const ac = new AbortController()
    ac.abort(new Error('changed my mind'))
    await expect(lab.sessions.list({}, { signal: ac.signal })).rejects.toThrow('changed my mind')
  })

  it('opens the terminal, carries bytes both ways, keeps the early output, resizes and re-attaches', async () => {
    const s = await lab.sessions.create({ user: 'alice' })
    const term = await s.terminal({ cols: 100, rows: 30 })
    let out = ''
    term.write('hello-terminal\n')
    await new Promise((r) => setTimeout(r, 50)) // output arrives before anyone listens
    term.onData((b) => (out += Buffer.from(b).toString('utf8')))
    await waitFor(() => out.includes('hello-terminal'), 3000, 'echo')
    const sandboxId = (await gw.store.getSession(s.id))!.sandboxId!
    await waitFor(() => (gw.pools.get('default')!.driver as FakeDriver).agent(sandboxId)?.size.cols === 100, 3000, 'initial resize')
    term.resize(90, 20)
    await waitFor(() => (gw.pools.get('default')!.driver as FakeDriver).agent(sandboxId)?.size.cols === 90, 3000, 'resize')

    const closes: number[] = []
    term.onClose((e) => closes.push(e.code))
    term.close()
    await waitFor(() => closes.length === 1, 3000, 'close')
    out = ''
    await term.reattach()
    await waitFor(() => out.includes('hello-terminal'), 3000, 'scrollback replayed on re-attach')

    const exits: { code: number | null; reason: string }[] = []
    term.onExit((e) => exits.push(e))
    await s.end()
    await waitFor(() => exits.length === 1 && closes.length === 2, 3000, 'exit and close')
    expect(exits[0]).toMatchObject({ reason: 'terminated' })
    expect(closes[1]).toBe(1000)
    expect(term.exit?.reason).toBe('terminated')
    await expect(term.reattach()).rejects.toBeInstanceOf(SessionEndedError)
  })

  it('explains how to get a WebSocket when there is none', async () => {
    const noWs = new InfraLab({ url: gw.url, apiKey: TEST_KEY })
    const s = await noWs.sessions.create({ user: 'alice' })
    await expect(s.terminal()).rejects.toThrow(/pass one.*import WebSocket from 'ws'/)
  })
})

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}
