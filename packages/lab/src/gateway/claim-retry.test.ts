import { afterEach, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { auth, startTestGateway, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

describe('a claim whose sandbox fails before the answer', () => {
  let gw: Gw | undefined
  afterEach(async () => {
    await gw?.cleanup()
    gw = undefined
  })

  async function gateway(driver: FakeDriver, size: number): Promise<Gw> {
    gw = await startTestGateway(driver, { pools: [{ name: 'default', policy: { kind: 'fixed', size }, maxSize: 4 }] })
    await waitFor(() => gw!.pools.get('default')!.controller.status().ready >= size, 5000, 'pool to fill')
    return gw
  }

  const post = (g: Gw) => g.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: { user: 'alice' } })

  it('is retried on another warm sandbox: the caller gets 201, the broken sandbox is destroyed', async () => {
    const driver = new FakeDriver({ failBinds: (n) => n === 1 })
    const g = await gateway(driver, 2)
    const res = await post(g)
    expect(res.statusCode).toBe(201)
    expect(res.json()).toMatchObject({ user: 'alice', warm: true })
    expect(res.json().timings.failedClaimMs).toBeGreaterThanOrEqual(0)
    expect(driver.bindCalls).toBe(2)
    expect(driver.destroyed).toHaveLength(1)
    const session = await g.store.getSession(res.json().id)
    expect(session?.sandboxId).not.toBe(driver.destroyed[0])
    // the failed attempt left an ended session behind, never a live one
    const failed = (await g.store.listSessions({ user: 'alice' })).filter((s) => s.id !== res.json().id)
    expect(failed).toMatchObject([{ state: 'ended', endedReason: 'claim_failed' }])
  })

  it('is retried cold when no other sandbox is warm', async () => {
    const driver = new FakeDriver({ failBinds: (n) => n === 1 })
    const g = await gateway(driver, 1)
    const res = await post(g)
    expect(res.statusCode).toBe(201)
    expect(res.json()).toMatchObject({ warm: false })
  })

  it('is retried once only: a second failure answers 500 claim_failed and counts one rejected claim', async () => {
    const driver = new FakeDriver({ failBinds: true })
    const g = await gateway(driver, 2)
    const res = await post(g)
    expect(res.statusCode).toBe(500)
    expect(res.json().error.code).toBe('claim_failed')
    expect(driver.bindCalls).toBe(2)
    expect((await g.app.inject('/metrics')).body).toContain(`lab_claims_total{pool="default",result="rejected",replica="${g.replicaId}"} 1`)
    expect(await g.store.listSessions({ state: 'starting' })).toEqual([])
  })
})
