import { afterEach, describe, expect, it } from 'vitest'
import { makePool, session } from './test-fixture.ts'

describe('PoolController.createForClaim (cold path)', () => {
  let pool: ReturnType<typeof makePool>
  afterEach(async () => {
    await pool.close()
  })

  it('starts one sandbox outside the warm target and keeps it for its claim', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 0 } })
    const rec = await pool.controller.createForClaim(5000)
    expect(rec).toMatchObject({ id: 'sb-001', pool: 'alpha', state: 'warm' })
    // A reconcile before the claim must not retire it as surplus (target 0).
    await pool.controller.reconcile()
    await pool.controller.settled()
    expect(pool.driver.destroyed).toEqual([])
    const claimed = await pool.store.claimSandbox(rec.id, session('s-1'), 0)
    expect(claimed?.session).toMatchObject({ sandboxId: 'sb-001', warm: false })
    expect(pool.controller.takeWarm(rec.id)?.hello.sandboxId).toBe('sb-001')
  })

  it('throws CapacityExhausted when ready + starting + claimed reach maxSize', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 2 }, maxSize: 3 })
    await pool.converge()
    await pool.store.claimWarm('alpha', session('s-1'), 0)
    await pool.store.claimWarm('alpha', session('s-2'), 0)
    await pool.converge() // refills one: 1 warm + 2 claimed
    const third = await pool.controller.createForClaim(5000).catch((e: unknown) => e)
    expect(third).toMatchObject({ name: 'CapacityExhausted', pool: 'alpha', maxSize: 3 })
    expect((third as Error).message).toBe('pool "alpha" is at maxSize 3: no sandbox can be started')
    expect(pool.driver.createCalls).toBe(3)
  })

  it('counts its own in-flight cold starts against maxSize', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 0 }, maxSize: 1 }, { startDelayMs: 100 })
    const first = pool.controller.createForClaim(5000)
    await expect(pool.controller.createForClaim(5000)).rejects.toMatchObject({ name: 'CapacityExhausted' })
    expect((await first).id).toBe('sb-001')
  })

  it('throws ClaimTimeout past timeoutMs and destroys the late sandbox when it arrives', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 0 } }, { startDelayMs: 150 })
    const p = pool.controller.createForClaim(1000).catch((e: unknown) => e)
    await expect.poll(() => pool.clock.pendingTimers()).toBe(1)
    pool.clock.advance(1000)
    expect(await p).toMatchObject({ name: 'ClaimTimeout', timeoutMs: 1000 })
    await pool.controller.settled()
    expect(pool.driver.createCalls).toBe(1)
    expect(pool.driver.destroyed).toEqual(['sb-001'])
    expect(await pool.store.listSandboxes()).toEqual([])
  })

  it('passes a driver failure through and backs off', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 0 } }, { failCreates: true })
    await expect(pool.controller.createForClaim(1000)).rejects.toMatchObject({ name: 'DriverError', reason: 'create_failed' })
    await pool.controller.reconcile()
    expect(pool.controller.status()).toMatchObject({ backoffUntil: 500, lastError: 'create_failed: fake create #1 of sb-001 failed (failCreates)' })
  })
})

describe('PoolController.stop', () => {
  let pool: ReturnType<typeof makePool>
  afterEach(async () => {
    await pool.close()
  })

  it('with destroyInFlight, waits for in-flight creates and destroys what they made', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 2 } }, { startDelayMs: 100 })
    await pool.controller.reconcile()
    expect(pool.controller.status().starting).toBe(2)
    await pool.controller.stop({ destroyInFlight: true })
    expect(await pool.driver.list()).toEqual([])
    expect(await pool.store.listSandboxes()).toEqual([])
    expect(pool.driver.createCalls).toBe(2)
  })

  it('without it, lets in-flight creates finish as warm sandboxes for the next gateway, and starts nothing new', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 2 } }, { startDelayMs: 50 })
    await pool.controller.reconcile()
    await pool.controller.stop()
    expect(await pool.warmIds()).toEqual(['sb-001', 'sb-002'])
    await pool.store.claimWarm('alpha', session('s-1'), 0)
    await pool.controller.reconcile()
    await pool.controller.settled()
    expect(pool.driver.createCalls).toBe(2)
    await expect(pool.controller.createForClaim(1000)).rejects.toMatchObject({ name: 'PoolStopped' })
  })
})
