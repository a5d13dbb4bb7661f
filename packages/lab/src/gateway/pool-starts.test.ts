import { afterEach, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { auth, startTestGateway, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>
interface Starts { count: number; recent: { at: string; ms: number }[] }

describe("GET /v1/pools/{name} lists each create's own duration (status.starts)", () => {
  let gw: Gw | undefined
  afterEach(async () => {
    await gw?.cleanup()
    gw = undefined
  })

  const starts = async (): Promise<Starts> => (await gw!.app.inject({ method: 'GET', url: '/v1/pools/default', headers: auth })).json().status.starts

  it('counts every finished create and gives each its launch time and duration', async () => {
    const before = Date.now()
    gw = await startTestGateway(new FakeDriver({ startDelayMs: 30 }), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 4 }] })
    await waitFor(async () => (await starts()).count === 2, 5000, 'pool to fill')
    const filled = await starts()
    expect(filled.recent).toHaveLength(2)
    for (const s of filled.recent) {
      expect(s.ms).toBeGreaterThanOrEqual(30) // the driver's own delay, and the store writes around it
      expect(Date.parse(s.at)).toBeGreaterThanOrEqual(before)
      expect(Date.parse(s.at) + s.ms).toBeLessThanOrEqual(Date.now())
    }
    // A claim takes one; its refill is the third create, listed last.
    const s = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: { user: 'ada' } })
    expect(s.statusCode).toBe(201)
    await waitFor(async () => (await starts()).count === 3, 5000, 'refill')
    const after = await starts()
    expect(after.recent.slice(0, 2)).toEqual(filled.recent)
    expect(Date.parse(after.recent[2]!.at)).toBeGreaterThanOrEqual(Date.parse(filled.recent[1]!.at))
  })
})
