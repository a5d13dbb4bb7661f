import { afterEach, describe, expect, it } from 'vitest'
import { GatedDriver } from '../drivers/fake/gated-driver.test-util.ts'
import type { Store } from '../store/types.ts'
import { makePool, session } from './test-fixture.ts'

/** The store, with how often each method was called since the last reset. */
function counting(store: Store) {
  const calls = new Map<string, number>()
  const proxy = new Proxy(store, {
    get(target, name, receiver) {
      const v = Reflect.get(target, name, receiver)
      if (typeof v !== 'function') return v
      return (...args: unknown[]) => {
        calls.set(String(name), (calls.get(String(name)) ?? 0) + 1)
        return (v as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { proxy, calls: (name: string) => calls.get(name) ?? 0, reset: () => calls.clear() }
}

const settle = () => new Promise((r) => setTimeout(r, 30))

describe('PoolRuntime.claim', () => {
  let pool: ReturnType<typeof makePool>
  afterEach(async () => {
    await pool.close()
  })

  it('takes a warm sandbox with one store call, and hands over the open channel', async () => {
    let store!: ReturnType<typeof counting>
    pool = makePool({ policy: { kind: 'fixed', size: 1 } }, {}, { wrapStore: (s) => (store = counting(s)).proxy })
    await pool.converge()
    store.reset()
    const got = await pool.runtime.claim(session('s-1'))
    expect(got.warm).toBe(true)
    expect(got.claimed.sandbox).toMatchObject({ id: 'sb-001', state: 'claimed', sessionId: 's-1' })
    expect(got.channel?.hello.sandboxId).toBe('sb-001')
    expect(store.calls('claimWarm')).toBe(1)
    expect(['countSandboxes', 'checkAdmission', 'claimSandbox', 'listSandboxes', 'getSandbox'].map(store.calls)).toEqual([0, 0, 0, 0, 0])
  })

  it('cold-starts a sandbox outside the warm target and claims it for the caller', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 0 } })
    const got = await pool.runtime.claim(session('s-1'))
    expect(got.warm).toBe(false)
    expect(got.claimed.session).toMatchObject({ id: 's-1', sandboxId: 'sb-001', warm: false })
    expect(got.channel?.hello.sandboxId).toBe('sb-001')
    await pool.controller.reconcile()
    await pool.controller.settled()
    expect(pool.driver.destroyed).toEqual([])
  })

  it('refuses with CapacityExhausted when the pool is at maxSize and nothing is on its way', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 2 }, maxSize: 3 })
    await pool.converge()
    for (const id of ['s-1', 's-2']) await pool.runtime.claim(session(id))
    await pool.converge() // refills one: 1 warm + 2 claimed
    await pool.runtime.claim(session('s-3'))
    await pool.converge()
    const fourth = await pool.runtime.claim(session('s-4')).catch((e: unknown) => e)
    expect(fourth).toMatchObject({ name: 'CapacityExhausted', pool: 'alpha', maxSize: 3 })
    expect((fourth as Error).message).toBe('pool "alpha" is at maxSize 3: no sandbox can be started')
    expect(pool.driver.createCalls).toBe(3)
    expect(await pool.store.getSession('s-4')).toBeUndefined()
  })

  it('counts its own in-flight cold starts against maxSize: a second claim may not wait for the first one\'s start', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 0 }, maxSize: 1 }, { startDelayMs: 100 })
    const first = pool.runtime.claim(session('s-1'))
    await expect(pool.runtime.claim(session('s-2'))).rejects.toMatchObject({ name: 'CapacityExhausted' })
    expect((await first).claimed.sandbox.id).toBe('sb-001')
  })

  it('passes a failed cold start to its claim and backs off', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 0 } }, { failCreates: true })
    await expect(pool.runtime.claim(session('s-1'))).rejects.toMatchObject({ name: 'DriverError', reason: 'create_failed' })
    await pool.controller.reconcile()
    expect(pool.controller.status()).toMatchObject({ backoffUntil: 500, lastError: 'create_failed: fake create #1 of sb-001 failed (failCreates)' })
    expect(await pool.store.listSandboxes()).toEqual([])
  })
})

describe('claims that wait for a sandbox on its way', () => {
  let pool: ReturnType<typeof makePool>
  afterEach(async () => {
    await pool.close()
  })

  it('gets the refill from the create that finishes it, without reading the store while it waits', async () => {
    const driver = new GatedDriver()
    let store!: ReturnType<typeof counting>
    pool = makePool({ policy: { kind: 'fixed', size: 1 }, maxSize: 2 }, {}, { driver, wrapStore: (s) => (store = counting(s)).proxy })
    await pool.controller.reconcile()
    driver.release()
    await pool.controller.settled()
    await pool.runtime.claim(session('s-1')) // the warm one
    await pool.controller.reconcile() // its refill starts, and waits at the gate
    await expect.poll(() => driver.waiting).toBe(1)
    store.reset()
    // 1 claimed + 1 starting = maxSize: the claim waits for that refill.
    let got: Awaited<ReturnType<typeof pool.runtime.claim>> | undefined
    const claim = pool.runtime.claim(session('s-2')).then((g) => (got = g))
    await settle()
    expect(got).toBeUndefined()
    expect(pool.controller.waiters.size).toBe(1)
    await settle()
    // The store was asked once for a warm sandbox, once for the quotas, once for the counts: not in a loop.
    expect(['claimWarm', 'checkAdmission', 'countSandboxes', 'claimSandbox'].map(store.calls)).toEqual([1, 1, 1, 0])
    driver.release()
    await claim
    expect(got).toMatchObject({ warm: false, claimed: { sandbox: { id: 'sb-002' }, session: { id: 's-2', sandboxId: 'sb-002', warm: false } } })
    expect(got!.channel?.hello.sandboxId).toBe('sb-002')
    // The create's hand-off claimed it: one claimSandbox, and still the one claimWarm.
    expect(store.calls('claimSandbox')).toBe(1)
    expect(store.calls('claimWarm')).toBe(1)
    expect(pool.clock.now()).toBe(0) // no timer of the pool's had to fire
    expect(pool.controller.waiters.size).toBe(0)
  })

  it('times out at claimTimeoutMs with ClaimTimeout; the late sandbox stays warm for the next claim', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 0 }, claimTimeoutMs: 1000 }, { startDelayMs: 150 })
    const p = pool.runtime.claim(session('s-1')).catch((e: unknown) => e)
    await expect.poll(() => pool.clock.pendingTimers()).toBe(1)
    pool.clock.advance(1000)
    expect(await p).toMatchObject({ name: 'ClaimTimeout', timeoutMs: 1000 })
    expect(pool.controller.waiters.size).toBe(0)
    await pool.controller.settled()
    expect(pool.driver.createCalls).toBe(1)
    expect(pool.driver.destroyed).toEqual([])
    expect(await pool.warmIds()).toEqual(['sb-001'])
    expect(await pool.store.getSession('s-1')).toBeUndefined()
    const next = await pool.runtime.claim(session('s-2'))
    expect(next).toMatchObject({ warm: true, claimed: { sandbox: { id: 'sb-001' } } })
  })

  it('caps the waiters at maxClaimWaiters and refuses one more with CapacityExhausted', async () => {
    const driver = new GatedDriver()
    pool = makePool({ policy: { kind: 'fixed', size: 0 }, maxSize: 10, maxClaimWaiters: 2 }, {}, { driver })
    const first = pool.runtime.claim(session('s-1'))
    const second = pool.runtime.claim(session('s-2'))
    await expect.poll(() => pool.controller.waiters.size).toBe(2)
    const third = await pool.runtime.claim(session('s-3')).catch((e: unknown) => e)
    expect(third).toMatchObject({ name: 'CapacityExhausted', pool: 'alpha', waiters: 2 })
    expect((third as Error).message).toBe('pool "alpha" is at maxSize 10 and 2 claims already wait for a sandbox (maxClaimWaiters)')
    await expect.poll(() => driver.waiting).toBe(2)
    driver.releaseAll()
    const ids = [(await first).claimed.sandbox.id, (await second).claimed.sandbox.id].sort()
    expect(ids).toEqual(['sb-001', 'sb-002'])
    expect(driver.createCalls).toBe(2)
  })

  it('a waiter whose caller went away does not take the sandbox: the next waiter does, and none is left claimed for nobody', async () => {
    const driver = new GatedDriver()
    pool = makePool({ policy: { kind: 'fixed', size: 0 }, maxSize: 2 }, {}, { driver })
    const gone = new AbortController()
    const left = pool.runtime.claim(session('s-left'), gone.signal).catch((e: unknown) => e)
    const stays = pool.runtime.claim(session('s-stays'))
    await expect.poll(() => driver.waiting).toBe(2)
    gone.abort()
    expect(await left).toMatchObject({ name: 'ClaimCancelled', pool: 'alpha' })
    expect(pool.controller.waiters.size).toBe(1)
    driver.release() // the first start finishes: it goes to the claim still waiting
    expect((await stays).claimed).toMatchObject({ sandbox: { id: 'sb-001' }, session: { id: 's-stays' } })
    driver.release() // the second finds no waiter: it stays warm
    await pool.controller.settled()
    expect(await pool.warmIds()).toEqual(['sb-002'])
    expect(await pool.store.getSession('s-left')).toBeUndefined()
    expect(driver.destroyed).toEqual([])
    expect((await pool.runtime.claim(session('s-next'))).claimed.sandbox.id).toBe('sb-002')
  })

  it('a claim whose caller is already gone starts nothing', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 0 } })
    const gone = new AbortController()
    gone.abort()
    await expect(pool.runtime.claim(session('s-1'), gone.signal)).rejects.toMatchObject({ name: 'ClaimCancelled' })
    await pool.controller.settled()
    expect(pool.driver.createCalls).toBe(0)
    expect(pool.controller.waiters.size).toBe(0)
  })

  it('a failed start fails the oldest waiter with the driver error', async () => {
    const driver = new GatedDriver({ failCreates: (n) => n === 1 })
    pool = makePool({ policy: { kind: 'fixed', size: 0 }, maxSize: 4 }, {}, { driver })
    const a = pool.runtime.claim(session('s-a')).catch((e: unknown) => e)
    const b = pool.runtime.claim(session('s-b'))
    await expect.poll(() => driver.waiting).toBe(2)
    driver.release() // create #1 fails: the oldest waiter hears why
    expect(await a).toMatchObject({ name: 'DriverError', reason: 'create_failed' })
    driver.release()
    expect((await b).claimed.session.id).toBe('s-b')
  })

  it('stopping the pool fails every waiter with PoolStopped, and refuses new claims', async () => {
    const driver = new GatedDriver()
    pool = makePool({ policy: { kind: 'fixed', size: 0 } }, {}, { driver })
    const w = pool.runtime.claim(session('s-1')).catch((e: unknown) => e)
    await expect.poll(() => driver.waiting).toBe(1)
    const stopped = pool.controller.stop({ destroyInFlight: true })
    expect(await w).toMatchObject({ name: 'PoolStopped' })
    driver.releaseAll()
    await stopped
    await expect(pool.runtime.claim(session('s-2'))).rejects.toMatchObject({ name: 'PoolStopped' })
    expect(await pool.store.listSandboxes()).toEqual([])
  })

  it('stopping without destroyInFlight lets a waiting claim have the start in flight', async () => {
    const driver = new GatedDriver()
    pool = makePool({ policy: { kind: 'fixed', size: 0 } }, {}, { driver })
    const w = pool.runtime.claim(session('s-1'))
    await expect.poll(() => driver.waiting).toBe(1)
    const stopped = pool.controller.stop()
    driver.release()
    await stopped
    expect((await w).claimed).toMatchObject({ sandbox: { id: 'sb-001', state: 'claimed' }, session: { id: 's-1' } })
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
    await pool.store.claimWarm('alpha', session('s-2'), 0)
    await pool.controller.reconcile()
    await pool.controller.settled()
    expect(pool.driver.createCalls).toBe(2)
    await expect(pool.runtime.claim(session('s-3'))).rejects.toMatchObject({ name: 'PoolStopped' })
  })
})
