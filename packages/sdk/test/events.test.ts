import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeDriver } from '../../lab/src/drivers/fake/fake-driver.ts'
import { TEST_KEY, startTestGateway } from '../../lab/src/gateway/test-gateway.test-util.ts'
import { ForbiddenError, InfraLab, WebhookNotFoundError, type LabEvent } from '../src/index.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

describe('InfraLab events and webhooks (fake driver)', () => {
  let gw: Gw
  const requests: { url: string; headers: Headers }[] = []
  const recording: typeof fetch = (input, init) => {
    requests.push({ url: String(input), headers: new Headers(init?.headers) })
    return fetch(input, init)
  }

  beforeEach(async () => {
    requests.length = 0
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }], allowPrivateWebhooks: true })
  })
  afterEach(async () => {
    await gw.cleanup()
  })

  const append = (user: string) => gw.store.appendEvent({ at: Date.now(), type: 'session.ended', pool: 'default', user, sessionId: 'ses-abc', data: { reason: 'exited' } })

  /** The first `n` events of the iterable, then stops it. */
  async function take(it: AsyncGenerator<LabEvent>, n: number, onEach?: (e: LabEvent, i: number) => Promise<void>): Promise<LabEvent[]> {
    const got: LabEvent[] = []
    for await (const e of it) {
      got.push(e)
      await onEach?.(e, got.length)
      if (got.length === n) break
    }
    return got
  }

  it('iterates the events from an id, filtered by type, with the key in the Authorization header only', async () => {
    const lab = new InfraLab({ url: gw.url, apiKey: TEST_KEY, fetch: recording })
    const first = await append('a')
    await gw.store.appendEvent({ at: Date.now(), type: 'session.created', pool: 'default', user: 'b', sessionId: 'ses-abc', data: {} })
    const third = await append('c')
    const got = await take(lab.events({ lastEventId: first - 1, types: ['session.ended'] }), 2)
    expect(got.map((e) => [e.id, e.type, e.user])).toEqual([[first, 'session.ended', 'a'], [third, 'session.ended', 'c']])
    expect(got[0]).toMatchObject({ pool: 'default', sessionId: 'ses-abc', data: { reason: 'exited' }, at: expect.any(String) })
    expect(requests).toHaveLength(1)
    expect(requests[0]!.url).toBe(`${gw.url}/v1/events?types=session.ended`)
    expect(requests[0]!.url).not.toContain(TEST_KEY)
    expect(requests[0]!.headers.get('authorization')).toBe(`Bearer ${TEST_KEY}`)
    expect(requests[0]!.headers.get('last-event-id')).toBe(String(first - 1))
  })

  it('resumes after the last event it saw when the gateway cuts the stream: nothing lost, nothing twice', async () => {
    const lab = new InfraLab({ url: gw.url, apiKey: TEST_KEY, fetch: recording })
    const ids = [await append('u0'), await append('u1')]
    const got = await take(lab.events({ lastEventId: ids[0]! - 1, types: ['session.ended'] }), 4, async (_e, n) => {
      if (n !== 2) return
      // every stream of the gateway ends (as on a cut-off); events come while the client is away
      gw.events.stop()
      await gw.events.start()
      ids.push(await append('u2'), await append('u3'))
    })
    expect(got.map((e) => e.id)).toEqual(ids)
    expect(requests.length).toBeGreaterThanOrEqual(2)
    expect(requests.at(-1)!.headers.get('last-event-id')).toBe(String(ids[1]))
  })

  it('ends with the stream when told not to reconnect, and throws what the gateway refuses', async () => {
    const lab = new InfraLab({ url: gw.url, apiKey: TEST_KEY })
    await append('x')
    const it = lab.events({ lastEventId: 0, reconnect: false, types: ['session.ended'] })
    expect((await it.next()).value).toMatchObject({ user: 'x' })
    gw.events.stop()
    expect((await it.next()).done).toBe(true)
    await gw.events.start()
    const scoped = (await gw.app.inject({ method: 'POST', url: '/v1/keys', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, payload: { name: 'team' } })).json().key as string
    const wrong = new InfraLab({ url: gw.url, apiKey: 'not-the-key-0123456789' })
    await expect(wrong.events().next()).rejects.toMatchObject({ code: 'unauthorized', status: 401 })
    // webhooks are for the admin key only
    await expect(new InfraLab({ url: gw.url, apiKey: scoped }).webhooks.list()).rejects.toBeInstanceOf(ForbiddenError)
  })

  it('creates, lists and deletes webhooks', async () => {
    const lab = new InfraLab({ url: gw.url, apiKey: TEST_KEY })
    const created = await lab.webhooks.create({ url: 'http://127.0.0.1:9/hook', events: ['session.ended'] })
    expect(created.secret).toMatch(/^whsec_/)
    const list = await lab.webhooks.list()
    expect(list.map((w) => [w.id, w.url, w.events, w.pending])).toEqual([[created.id, 'http://127.0.0.1:9/hook', ['session.ended'], 0]])
    expect(list[0]).not.toHaveProperty('secret')
    await lab.webhooks.delete(created.id)
    expect(await lab.webhooks.list()).toEqual([])
    await expect(lab.webhooks.delete(created.id)).rejects.toBeInstanceOf(WebhookNotFoundError)
  })
})
