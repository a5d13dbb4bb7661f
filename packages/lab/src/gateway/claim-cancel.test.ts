import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { GatedDriver } from '../drivers/fake/gated-driver.test-util.ts'
import { auth, startTestGateway, waitFor } from './test-gateway.test-util.ts'

describe('POST /v1/sessions whose client goes away while the claim waits', () => {
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  afterEach(async () => {
    await gw.cleanup()
  })

  it('withdraws the waiting claim: no session is made, and the refill it waited for stays warm for the next claim', async () => {
    // maxSize 1 with its one refill held at the driver: a claim waits for that refill.
    const driver = new GatedDriver()
    gw = await startTestGateway(driver, { pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 1 }] })
    const pool = gw.pools.get('default')!
    const { port } = new URL(gw.url)
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' } })
    req.on('error', () => undefined)
    req.end('{"user":"leaver"}')
    await waitFor(() => pool.controller.waiters.size === 1, 5000, 'the claim to wait for the refill')
    req.destroy()
    await waitFor(() => pool.controller.waiters.size === 0, 5000, 'the waiter to leave')
    await waitFor(() => driver.waiting === 1, 5000, 'the refill at the gate')
    driver.release()
    await waitFor(async () => (await gw.store.listSandboxes({ pool: 'default', state: 'warm' })).length === 1, 5000, 'the refill to finish warm')
    expect(await gw.store.listSessions()).toEqual([])
    const next = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: { user: 'next' } })
    expect(next.statusCode).toBe(201)
    expect(next.json()).toMatchObject({ user: 'next', warm: true })
  })
})
