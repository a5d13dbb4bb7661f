import { afterEach, describe, expect, it } from 'vitest'
import { LabClient } from '../client/client.ts'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { startTestGateway, TEST_KEY, waitFor } from '../gateway/test-gateway.test-util.ts'
import { buildFloorApp } from './floor-server.ts'
import { measureStart } from './startup.ts'

/** Every key path of a JSON value with the type at its end: `attach.token:string`. */
function shape(v: unknown, at = ''): string[] {
  if (v === null || typeof v !== 'object') return [`${at}:${typeof v}`]
  return Object.entries(v).flatMap(([k, x]) => shape(x, at ? `${at}.${k}` : k)).sort()
}

describe('the transport floor of bench startup', () => {
  const stops: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop()
  })

  it('answers POST /v1/sessions with a body of the gateway\'s shape and timing keys', async () => {
    const gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 2 }] })
    stops.push(() => gw.cleanup())
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 1, 20_000, 'a warm sandbox')
    const real = await new LabClient(gw.url, TEST_KEY).createSession({ user: 'alice' })
    const floor = await buildFloorApp()
    stops.push(() => floor.close())
    const res = await floor.inject({ method: 'POST', url: '/v1/sessions', payload: { user: 'alice', pool: 'default' } })
    expect(res.statusCode).toBe(201)
    expect(shape(res.json())).toEqual(shape(real))
    expect(res.json()).toMatchObject({ user: 'alice', pool: 'default', attach: { url: `/v1/sessions/${res.json().id}/terminal` } })
  })

  it('sends one byte when the terminal opens, so the client\'s start completes with each step timed', async () => {
    const floor = await buildFloorApp()
    stops.push(() => floor.close())
    const url = await floor.listen({ host: '127.0.0.1', port: 0 })
    const s = await measureStart(new LabClient(url, 'floor'), 'default', 'alice')
    for (const step of [s.postMs, s.openMs, s.byteMs]) expect(step).toBeGreaterThanOrEqual(0)
    expect(s.totalMs).toBeCloseTo(s.postMs + s.openMs + s.byteMs, 6)
    expect(s.warm).toBe(true)
  })
})
