// Per-session timeouts on the manual clock: what counts as activity, the keepalive, and the
// `expiring` warning a minute before a timeout ends a session.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { ManualClock } from '../clock/manual-clock.ts'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { auth, startTestGateway, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

const T0 = Date.parse('2027-01-04T09:00:00Z')
const S = 1000
const json = { ...auth, 'content-type': 'application/json' }

describe('session lifecycle on the manual clock', () => {
  let gw: Gw
  let driver: FakeDriver
  let clock: ManualClock
  const sockets: WebSocket[] = []

  beforeEach(async () => {
    clock = new ManualClock(T0)
    driver = new FakeDriver()
    // Nothing warm: every create cold-starts, so no pool refill needs the clock to move.
    gw = await startTestGateway(driver, {
      pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 }, maxSize: 8, idleTimeoutS: 600, maxLifetimeS: 0 }],
      maxSessionTimeoutS: 3600,
    }, { clock })
  })
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate()
    await gw.cleanup()
  })

  /** Moves the clock, then lets the sweep act at the new time. */
  async function advance(ms: number): Promise<void> {
    clock.advance(ms)
    await gw.sessions.sweep()
  }

  async function create(body: Record<string, unknown>, headers: Record<string, string> = json) {
    const res = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'ada', ...body } })
    expect(res.statusCode, res.body).toBe(201)
    const s = res.json() as { id: string; attach: { token: string } }
    await waitFor(async () => (await gw.store.getSession(s.id))?.state === 'running', 5000, 'running')
    return s
  }

  const record = async (id: string) => (await gw.store.getSession(id))!
  const keepalive = (id: string, payload?: unknown, headers: Record<string, string> = json) =>
    gw.app.inject({ method: 'POST', url: `/v1/sessions/${id}/keepalive`, headers, ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }) })

  /** A terminal viewer that records its text frames and its close code. */
  async function viewer(id: string) {
    const token = (await gw.app.inject({ method: 'POST', url: `/v1/sessions/${id}/attach`, headers: auth })).json().token as string
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/sessions/${id}/terminal?token=${token}`)
    sockets.push(ws)
    const got = { text: [] as unknown[], closeCode: undefined as number | undefined }
    ws.on('message', (d: Buffer, binary: boolean) => { if (!binary) got.text.push(JSON.parse(d.toString('utf8'))) })
    ws.on('close', (code) => { got.closeCode = code })
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
    return { ws, got }
  }

  it("ends a session by its own idleTimeoutS, not its pool's, as idle_timeout by system", async () => {
    const s = await create({ idleTimeoutS: 120 })
    await advance(119 * S)
    expect((await record(s.id)).state).toBe('running')
    await advance(1 * S)
    expect(await record(s.id)).toMatchObject({ state: 'ended', endedReason: 'idle_timeout', endedBy: 'system', endedAt: T0 + 120 * S })
    const view = (await gw.app.inject({ url: `/v1/sessions/${s.id}`, headers: auth })).json()
    expect(view).toMatchObject({ endedReason: 'idle_timeout', endedBy: 'system' })
    expect(view).not.toHaveProperty('idleExpiresAt')
  })

  it('falls back to the pool for a session created without its own limits', async () => {
    const s = await create({})
    expect(await record(s.id)).toMatchObject({ idleTimeoutS: 600, expiresAt: null })
    await advance(599 * S)
    expect((await record(s.id)).state).toBe('running')
    await advance(1 * S)
    expect((await record(s.id)).endedReason).toBe('idle_timeout')
  })

  it('ends a session at its timeoutS with max_lifetime, however busy it is', async () => {
    const s = await create({ timeoutS: 300 })
    const view = (await gw.app.inject({ url: `/v1/sessions/${s.id}`, headers: auth })).json()
    expect(view.expiresAt).toBe(new Date(T0 + 300 * S).toISOString())
    expect(view.idleExpiresAt).toBe(new Date(T0 + 600 * S).toISOString())
    for (let t = 0; t < 290; t += 10) {
      expect((await keepalive(s.id)).statusCode).toBe(200)
      await advance(10 * S)
    }
    expect((await record(s.id)).state).toBe('running')
    await advance(10 * S)
    expect(await record(s.id)).toMatchObject({ state: 'ended', endedReason: 'max_lifetime', endedBy: 'system' })
  })

  it('output alone is not activity: a shell printing forever with nobody attached ends idle', async () => {
    const s = await create({ idleTimeoutS: 120 })
    const agent = driver.agent((await record(s.id)).sandboxId!)!
    // An operation answered on the same channel is read after the output before it: so the
    // gateway has read each line before the clock moves on. (Called here, not over HTTP, it is
    // no API call on the session.)
    const ops = await gw.sessions.agent(s.id)
    for (let t = 0; t < 120; t += 5) {
      agent.print(`line ${t}\r\n`)
      await ops.listProcesses().catch(() => undefined)
      await advance(5 * S)
    }
    expect(await record(s.id)).toMatchObject({ state: 'ended', endedReason: 'idle_timeout' })
  })

  it('an attached viewer keeps a session from going idle; idleness counts from when it left', async () => {
    const s = await create({ idleTimeoutS: 120 })
    const { ws } = await viewer(s.id)
    await advance(600 * S)
    expect((await record(s.id)).state).toBe('running')
    const view = (await gw.app.inject({ url: `/v1/sessions/${s.id}`, headers: auth })).json()
    expect(view.idleExpiresAt).toBe(new Date(clock.now() + 120 * S).toISOString())

    ws.close()
    // The gateway sees the viewer go a moment later; from then on its last activity stays put.
    await waitFor(async () => {
      await advance(1 * S)
      return gw.sessions.lastActivityMs(s.id)! < clock.now()
    }, 5000, 'the viewer to leave')
    const left = gw.sessions.lastActivityMs(s.id)!
    await advance(left + 119 * S - clock.now())
    expect((await record(s.id)).state).toBe('running')
    await advance(1 * S)
    expect(await record(s.id)).toMatchObject({ state: 'ended', endedReason: 'idle_timeout', endedAt: left + 120 * S })
  })

  it('an API call on the session resets idleness; reading its record does not', async () => {
    const s = await create({ idleTimeoutS: 120 })
    await advance(100 * S)
    // exec counts as activity whatever it answers (the fake agent runs no commands)
    await gw.app.inject({ method: 'POST', url: `/v1/sessions/${s.id}/exec`, headers: json, payload: { cmd: 'true' } })
    await advance(100 * S)
    expect((await gw.app.inject({ url: `/v1/sessions/${s.id}`, headers: auth })).statusCode).toBe(200)
    expect((await gw.app.inject({ method: 'HEAD', url: `/v1/sessions/${s.id}`, headers: auth })).statusCode).toBe(200)
    await advance(19 * S)
    expect((await record(s.id)).state).toBe('running')
    await advance(1 * S)
    expect(await record(s.id)).toMatchObject({ state: 'ended', endedReason: 'idle_timeout', endedAt: T0 + 220 * S })
  })

  it('an API call outside the caller\'s scope is not activity', async () => {
    const key = (await gw.app.inject({ method: 'POST', url: '/v1/keys', headers: json, payload: { name: 'team-b', users: ['team-b-*'] } })).json().key as string
    const s = await create({ idleTimeoutS: 120 })
    await advance(100 * S)
    const outside = await keepalive(s.id, {}, { authorization: `Bearer ${key}`, 'content-type': 'application/json' })
    expect(outside.statusCode).toBe(404)
    expect(outside.json().error.code).toBe('session_not_found')
    await advance(20 * S)
    expect((await record(s.id)).endedReason).toBe('idle_timeout')
  })

  describe('POST /v1/sessions/{id}/keepalive', () => {
    it('resets idleness, with or without a body, and answers the session view', async () => {
      const s = await create({ idleTimeoutS: 120 })
      await advance(100 * S)
      const res = await keepalive(s.id)
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json()).toMatchObject({ id: s.id, state: 'running', idleExpiresAt: new Date(T0 + 220 * S).toISOString() })
      await advance(100 * S)
      expect((await gw.app.inject({ method: 'POST', url: `/v1/sessions/${s.id}/keepalive`, headers: auth })).statusCode).toBe(200)
      await advance(119 * S)
      expect((await record(s.id)).state).toBe('running')
      await advance(1 * S)
      expect((await record(s.id)).endedReason).toBe('idle_timeout')
    })

    it('moves the end of life to now + timeoutS, never past maxSessionTimeoutS from the creation', async () => {
      const s = await create({ timeoutS: 300, idleTimeoutS: 3600 })
      await advance(100 * S)
      const res = await keepalive(s.id, { timeoutS: 600 })
      expect(res.statusCode, res.body).toBe(200)
      expect(res.json().expiresAt).toBe(new Date(T0 + 700 * S).toISOString())
      expect((await record(s.id)).expiresAt).toBe(T0 + 700 * S)

      const tooLong = await keepalive(s.id, { timeoutS: 3501 })
      expect(tooLong.statusCode).toBe(400)
      expect(tooLong.json().error.code).toBe('validation_failed')
      expect(tooLong.json().error.details).toEqual([{ field: 'timeoutS', message: expect.stringMatching(/at most 3500 .*maxSessionTimeoutS, 3600/) }])
      expect((await record(s.id)).expiresAt).toBe(T0 + 700 * S)
      expect((await keepalive(s.id, { timeoutS: 3500 })).json().expiresAt).toBe(new Date(T0 + 3600 * S).toISOString())

      await advance(3499 * S)
      expect((await record(s.id)).state).toBe('running')
      await advance(1 * S)
      expect((await record(s.id)).endedReason).toBe('max_lifetime')
    })

    it('refuses bad input with 400 naming the field, an ended session with 409, no key with 401', async () => {
      const s = await create({})
      for (const payload of [{ timeoutS: 0 }, { timeoutS: -5 }, { timeoutS: 1.5 }, { timeoutS: '60' }, { timeoutS: 60, extra: 1 }, [], 'x']) {
        const res = await keepalive(s.id, payload)
        expect(res.statusCode, JSON.stringify(payload)).toBe(400)
        expect(res.json().error.code).toBe('validation_failed')
      }
      const bad = await gw.app.inject({ method: 'POST', url: `/v1/sessions/${s.id}/keepalive`, headers: json, payload: '{"timeoutS":' })
      expect(bad.json().error.code).toBe('invalid_json')
      const huge = await keepalive(s.id, { timeoutS: 60, pad: 'x'.repeat(2 * 1024 * 1024) })
      expect(huge.statusCode).toBe(413)
      expect((await keepalive('ses-nope', {})).statusCode).toBe(404)
      expect((await keepalive(s.id, {}, { 'content-type': 'application/json' })).statusCode).toBe(401)

      expect((await gw.app.inject({ method: 'DELETE', url: `/v1/sessions/${s.id}`, headers: auth })).statusCode).toBe(204)
      const ended = await keepalive(s.id, { timeoutS: 60 })
      expect(ended.statusCode).toBe(409)
      expect(ended.json().error.code).toBe('session_ended')
    })

    it("is scoped: another's session is 404 session_not_found, its own is kept alive", async () => {
      const key = (await gw.app.inject({ method: 'POST', url: '/v1/keys', headers: json, payload: { name: 'team-a', users: ['team-a-*'] } })).json().key as string
      const scoped = { authorization: `Bearer ${key}`, 'content-type': 'application/json' }
      const other = await create({ timeoutS: 300 })
      const own = await create({ user: 'team-a-1', timeoutS: 300 }, scoped)
      const refused = await keepalive(other.id, { timeoutS: 900 }, scoped)
      expect(refused.statusCode).toBe(404)
      expect(refused.json().error.code).toBe('session_not_found')
      expect((await record(other.id)).expiresAt).toBe(T0 + 300 * S)
      expect((await keepalive(own.id, { timeoutS: 900 }, scoped)).json().expiresAt).toBe(new Date(T0 + 900 * S).toISOString())
    })
  })

  describe('the expiring warning', () => {
    it('reaches an open terminal 60 s before its lifetime ends, then the end reason, then the close', async () => {
      const s = await create({ timeoutS: 300 })
      const { got } = await viewer(s.id)
      await advance(239 * S)
      expect(await gw.store.listEvents(0, 100)).not.toContainEqual(expect.objectContaining({ type: 'session.expiring' }))
      await advance(1 * S)
      await waitFor(() => got.text.length >= 1, 5000, 'the expiring frame')
      expect(got.text).toEqual([{ type: 'expiring', reason: 'max_lifetime', inS: 60 }])
      const events = (await gw.store.listEvents(0, 100)).filter((e) => e.type === 'session.expiring')
      expect(events).toEqual([expect.objectContaining({ at: T0 + 240 * S, pool: 'default', user: 'ada', sessionId: s.id, data: { reason: 'max_lifetime', inS: 60 } })])

      for (let t = 240; t < 300; t += 10) await advance(10 * S)
      await waitFor(() => got.closeCode !== undefined, 5000, 'the terminal to close')
      // one warning per deadline: the exit follows it directly
      expect(got.text).toEqual([{ type: 'expiring', reason: 'max_lifetime', inS: 60 }, { type: 'exit', code: null, reason: 'max_lifetime' }])
      expect(got.closeCode).toBe(1000)
      expect(await record(s.id)).toMatchObject({ endedReason: 'max_lifetime', endedBy: 'system' })
    })

    it('a viewer attaching after the warning hears it, with the time left', async () => {
      const s = await create({ timeoutS: 300 })
      await advance(240 * S)
      await advance(20 * S)
      const { got } = await viewer(s.id)
      await waitFor(() => got.text.length >= 1, 5000, 'the expiring frame')
      expect(got.text).toEqual([{ type: 'expiring', reason: 'max_lifetime', inS: 40 }])
    })

    it('warns again of a deadline a keepalive moved', async () => {
      const s = await create({ timeoutS: 300 })
      const { got } = await viewer(s.id)
      await advance(250 * S)
      await waitFor(() => got.text.length >= 1, 5000, 'the first warning')
      expect(got.text[0]).toEqual({ type: 'expiring', reason: 'max_lifetime', inS: 50 })
      expect((await keepalive(s.id, { timeoutS: 300 })).statusCode).toBe(200)
      await advance(239 * S)
      await advance(1 * S)
      await waitFor(() => got.text.length >= 2, 5000, 'the second warning')
      expect(got.text[1]).toEqual({ type: 'expiring', reason: 'max_lifetime', inS: 60 })
      expect((await gw.store.listEvents(0, 100)).filter((e) => e.type === 'session.expiring').map((e) => e.data)).toEqual([
        { reason: 'max_lifetime', inS: 50 }, { reason: 'max_lifetime', inS: 60 },
      ])
    })

    it('warns of an idle end in the event log; activity after the warning cancels that end', async () => {
      const s = await create({ idleTimeoutS: 300 })
      await advance(240 * S)
      const expiring = async () => (await gw.store.listEvents(0, 100)).filter((e) => e.type === 'session.expiring').map((e) => [e.at, e.data])
      expect(await expiring()).toEqual([[T0 + 240 * S, { reason: 'idle_timeout', inS: 60 }]])
      await advance(30 * S)
      expect(await expiring()).toHaveLength(1)
      expect((await keepalive(s.id)).statusCode).toBe(200)
      await advance(240 * S)
      expect((await record(s.id)).state).toBe('running')
      expect(await expiring()).toEqual([[T0 + 240 * S, { reason: 'idle_timeout', inS: 60 }], [T0 + 510 * S, { reason: 'idle_timeout', inS: 60 }]])
      await advance(60 * S)
      expect(await record(s.id)).toMatchObject({ endedReason: 'idle_timeout', endedAt: T0 + 570 * S })
    })
  })
})
