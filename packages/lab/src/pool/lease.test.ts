import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock/manual-clock.ts'
import { SqliteStore } from '../store/sqlite/sqlite-store.ts'
import type { Store } from '../store/types.ts'
import { LeaseKeeper } from './lease.ts'
import { PoolRuntime } from './runtime.ts'
import { makePool } from './test-fixture.ts'

const RENEW_MS = 1000
const logger = pino({ level: 'silent' })

/** The store, except that acquireLease throws (the database is down) while `failing` is set. */
function failingLeases(store: Store): { store: Store; failing: boolean } {
  const out = { store, failing: false }
  out.store = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'acquireLease' && out.failing) return async () => { throw new Error('database down') }
      const v: unknown = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  }) as Store
  return out
}

/** Lets the keeper's store calls (and what they chain) finish. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
}

describe('LeaseKeeper (two replicas on one store, manual clock)', () => {
  const stores: SqliteStore[] = []
  const keepers: LeaseKeeper[] = []
  afterEach(async () => {
    for (const k of keepers.splice(0)) await k.stop()
    for (const s of stores.splice(0)) await s.close()
  })

  const setup = () => {
    const clock = new ManualClock(10_000)
    const store = new SqliteStore(':memory:')
    stores.push(store)
    const acquired: string[] = []
    const keeper = (holder: string, s: Store = store, own: ManualClock = clock) => {
      const k = new LeaseKeeper({
        store: s, clock: own, logger, holder, renewMs: RENEW_MS, names: ['pool:alpha'],
        onAcquired: async (name) => { acquired.push(`${holder}:${name}`) },
      })
      keepers.push(k)
      return k
    }
    return { clock, store, keeper, acquired }
  }

  it('gives the lease to one replica; the other takes over within two renewal periods of its holder dying', async () => {
    const { clock, store, keeper, acquired } = setup()
    // a runs on a clock of its own that the test stops when a "dies": its timers never fire again.
    const aClock = new ManualClock(clock.now())
    const a = keeper('a', store, aClock)
    const b = keeper('b')
    a.start()
    await settle()
    b.start()
    await settle()
    expect(a.heldNames()).toEqual(['pool:alpha'])
    expect(b.heldNames()).toEqual([])
    expect(acquired).toEqual(['a:pool:alpha'])
    expect(await store.getLease('pool:alpha')).toMatchObject({ holder: 'a', expiresAt: 10_000 + 1.5 * RENEW_MS })

    // a renews while alive; b keeps asking and is refused.
    for (let i = 0; i < 3; i++) {
      clock.advance(RENEW_MS)
      aClock.advance(RENEW_MS)
      await settle()
    }
    expect(a.isHeld('pool:alpha')).toBe(true)
    expect(b.isHeld('pool:alpha')).toBe(false)

    // a dies without a word (kill -9): nothing renews its lease, nothing releases it.
    const diedAt = clock.now()
    let tookOverAt: number | undefined
    for (let t = 0; t <= 4 * RENEW_MS && tookOverAt === undefined; t += 50) {
      clock.advance(100)
      await settle()
      if (b.isHeld('pool:alpha')) tookOverAt = clock.now()
    }
    // a renewed just before it died; its lease lasts 1.5 periods, and b, asking 4 times a
    // period while it misses it, holds it at its first request after that, never before.
    expect(tookOverAt).toBeDefined()
    expect(tookOverAt! - diedAt).toBe(1.5 * RENEW_MS)
    expect(acquired).toEqual(['a:pool:alpha', 'b:pool:alpha'])
    expect((await store.getLease('pool:alpha'))?.holder).toBe('b')
  })

  it('stops trusting a lease it cannot renew 1.25 periods after the last renewal, before anyone else may take it', async () => {
    const { clock, store, keeper } = setup()
    const flaky = failingLeases(store)
    const a = keeper('a', flaky.store)
    a.start()
    await settle()
    const lastRenewal = clock.now()
    expect(a.isHeld('pool:alpha')).toBe(true)
    flaky.failing = true
    clock.advance(RENEW_MS) // this renewal fails
    await settle()
    expect(a.isHeld('pool:alpha')).toBe(true)
    clock.advance(RENEW_MS / 4 - 1)
    await settle()
    expect(a.isHeld('pool:alpha')).toBe(true)
    clock.advance(1) // 1.25 periods after the last renewal that went through
    expect(a.isHeld('pool:alpha')).toBe(false)
    // The lease in the store runs a quarter period more: nobody else can act on the pool meanwhile.
    expect(await store.acquireLease('pool:alpha', 'b', clock.now(), 1.5 * RENEW_MS)).toBe(false)
    expect((await store.getLease('pool:alpha'))?.expiresAt).toBe(lastRenewal + 1.5 * RENEW_MS)
  })

  it('runs the acquisition work again after a gap in which another replica may have held the lease', async () => {
    const { clock, store, keeper, acquired } = setup()
    const flaky = failingLeases(store)
    const a = keeper('a', flaky.store)
    a.start()
    await settle()
    flaky.failing = true
    clock.advance(2 * RENEW_MS)
    await settle()
    expect(a.isHeld('pool:alpha')).toBe(false)
    flaky.failing = false
    clock.advance(RENEW_MS)
    await settle()
    expect(a.isHeld('pool:alpha')).toBe(true)
    expect(acquired).toEqual(['a:pool:alpha', 'a:pool:alpha'])
  })

  it('gives the lease up on stop, so another replica takes it at its next renewal', async () => {
    const { clock, store, keeper } = setup()
    const a = keeper('a')
    const b = keeper('b')
    a.start()
    await settle()
    b.start()
    await settle()
    await a.stop()
    expect(await store.getLease('pool:alpha')).toBeUndefined()
    clock.advance(RENEW_MS)
    await settle()
    expect(b.heldNames()).toEqual(['pool:alpha'])
  })
})

describe('PoolController without the lease', () => {
  it('creates, recycles and retires nothing, keeps channels to the warm sandboxes, and takes over when given the lease', async () => {
    let held = false
    const runner = makePool({ policy: { kind: 'fixed', size: 2 } })
    const follower = makePool({ policy: { kind: 'fixed', size: 2 } }, {}, { driver: runner.driver })
    try {
      // The follower shares the runner's store and driver, as a replica on the same database.
      const f = new PoolRuntime({
        spec: follower.spec, driver: runner.driver, store: runner.store, clock: runner.clock, metrics: follower.metrics, logger,
        lease: { held: () => held }, newId: () => 'sb-f',
      })
      await runner.converge()
      expect(await runner.warmIds()).toHaveLength(2)
      await f.controller.reconcile()
      await f.controller.settled()
      expect(f.controller.inFlight).toBe(0)
      expect(await runner.driver.list()).toHaveLength(2)
      // A warm sandbox the runner retires would be retired by the follower only with the lease.
      await runner.store.retireWarmSandbox((await runner.warmIds())[0]!)
      await f.controller.reconcile()
      expect(f.controller.inFlight).toBe(0)
      // It holds a channel to the one still warm: a claim through it is warm without connecting.
      const [warm] = await runner.warmIds()
      const ch = f.controller.takeWarm(warm!)
      expect(ch).toBeDefined()
      ch!.close()
      held = true
      await f.controller.reconcile()
      expect(f.controller.inFlight).toBeGreaterThan(0)
      await f.controller.settled()
      await f.controller.stop()
    } finally {
      await follower.close()
      await runner.close()
    }
  })

  it('ignores nudges while it neither holds the lease nor has a claim waiting: only its periodic pass reads the pool', async () => {
    const runner = makePool({ policy: { kind: 'fixed', size: 2 } })
    let held = false
    let reads = 0
    const counting = new Proxy(runner.store, {
      get(target, prop, receiver) {
        const v: unknown = Reflect.get(target, prop, receiver)
        if (typeof v !== 'function') return v
        return (...a: unknown[]) => {
          if (prop === 'warmSnapshot') reads++
          return (v as (...x: unknown[]) => unknown).apply(target, a)
        }
      },
    }) as Store
    const f = new PoolRuntime({
      spec: runner.spec, driver: runner.driver, store: counting, clock: runner.clock, metrics: runner.metrics, logger,
      lease: { held: () => held }, newId: () => 'sb-f', followerSyncMs: 1000,
    })
    try {
      await runner.converge()
      f.controller.start()
      runner.clock.advance(0)
      await expect.poll(() => reads).toBe(1) // the first pass, at start
      for (let i = 0; i < 5; i++) f.controller.nudge()
      runner.clock.advance(10)
      await settle()
      expect(reads).toBe(1)
      runner.clock.advance(1000) // the follower's periodic pass
      await expect.poll(() => reads).toBe(2)
      // Given the lease, a nudge runs a pass at once.
      held = true
      f.controller.nudge()
      runner.clock.advance(0)
      await expect.poll(() => reads).toBe(3)
    } finally {
      await f.controller.stop({ destroyInFlight: true })
      await runner.close()
    }
  })
})
