import { afterEach, describe, expect, it } from 'vitest'
import { RESYNC_MS } from './controller.ts'
import type { Store } from '../store/types.ts'
import { makePool, session } from './test-fixture.ts'

describe('PoolController', () => {
  let pool: ReturnType<typeof makePool>
  afterEach(async () => {
    await pool.close()
  })

  it('fills the pool to its target with warm sandboxes and reports it', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 3 } })
    await pool.converge()
    expect(await pool.warmIds()).toEqual(['sb-001', 'sb-002', 'sb-003'])
    expect(pool.controller.status()).toEqual({ ready: 3, starting: 0, claimed: 0, target: 3 })
    expect(pool.driver.createCalls).toBe(3)
    expect(await pool.metric('lab_pool_sandboxes', { pool: 'alpha', state: 'ready' })).toBe(3)
    expect(await pool.metric('lab_pool_target', { pool: 'alpha' })).toBe(3)
  })

  it('never double-counts a slow create: repeated passes while creates are in flight start nothing more', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 3 }, maxConcurrentCreates: 10 }, { startDelayMs: 150 })
    for (let i = 0; i < 5; i++) await pool.controller.reconcile()
    expect(pool.controller.status()).toMatchObject({ ready: 0, starting: 3 })
    await pool.controller.settled()
    await pool.controller.reconcile()
    expect(pool.driver.createCalls).toBe(3)
    expect(pool.controller.status()).toMatchObject({ ready: 3, starting: 0 })
  })

  it('keeps an open channel to each warm sandbox and hands it over on takeWarm', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 1 } })
    await pool.converge()
    const claimed = await pool.store.claimWarm('alpha', session('s-1'), 0)
    const ch = pool.controller.takeWarm(claimed!.sandbox.id)
    expect(ch?.hello).toMatchObject({ sandboxId: 'sb-001', state: 'warm' })
    expect(pool.controller.takeWarm('sb-001')).toBeUndefined()
    expect(await ch!.claim({ sessionId: 's-1', user: 'ada', home: '/home/ada', env: {}, secrets: {} }, 2000)).toMatchObject({ type: 'ready' })
    ch!.close()
  })

  it('refills after every claim, driven by nudge() on its own timer', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 2 } })
    pool.controller.start()
    const warmCount = async () => {
      pool.clock.advance(0)
      return (await pool.warmIds()).length
    }
    await expect.poll(warmCount).toBe(2)
    for (const id of ['s-1', 's-2', 's-3']) {
      const c = await pool.store.claimWarm('alpha', session(id), 0)
      expect(c).toBeDefined()
      pool.controller.takeWarm(c!.sandbox.id)?.close()
      pool.controller.recordClaim(pool.clock.now())
      pool.controller.nudge()
      await expect.poll(warmCount).toBe(2)
    }
    expect(pool.driver.createCalls).toBe(5)
    expect(await pool.store.countSandboxes('alpha')).toEqual({ starting: 0, warm: 2, claimed: 3, destroying: 0 })
  })

  it('never runs more than maxConcurrentCreates creates at once', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 7 }, maxConcurrentCreates: 2 }, { startDelayMs: 30 })
    await pool.controller.reconcile()
    expect(pool.controller.status().starting).toBe(2)
    await pool.converge()
    expect(await pool.warmIds()).toHaveLength(7)
    expect(pool.driver.maxInFlight).toBe(2)
  })

  it('never exceeds maxSize: claimed sandboxes lower the warm target', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 4 }, maxSize: 5 })
    await pool.converge()
    for (const id of ['s-1', 's-2', 's-3']) await pool.store.claimWarm('alpha', session(id), 0)
    await pool.converge()
    expect(await pool.store.countSandboxes('alpha')).toEqual({ starting: 0, warm: 2, claimed: 3, destroying: 0 })
    expect(pool.controller.status()).toEqual({ ready: 2, starting: 0, claimed: 3, target: 2 })
  })

  it('reads the warm sandboxes and the counts as one moment: a claim landing during its pass retires no warm sandbox', async () => {
    // A claim through another replica lands right after the pass's first read. Read apart, the
    // claimed sandbox was counted both warm (the first read) and claimed (the second), and the
    // pass retired a warm sandbox as surplus that the pool needed.
    let claims = 0
    const claimAfterRead = (s: Store): Store => new Proxy(s, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown
        if (typeof v !== 'function' || !['warmSnapshot', 'listSandboxes', 'countSandboxes'].includes(String(prop))) return v
        return async (...args: unknown[]) => {
          const out = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)
          if (claims > 0) {
            claims--
            await target.claimWarm('alpha', session(`s-${claims}`), 0)
          }
          return out
        }
      },
    })
    pool = makePool({ policy: { kind: 'fixed', size: 4 }, maxSize: 4 }, {}, { wrapStore: claimAfterRead })
    await pool.converge()
    expect(await pool.warmIds()).toHaveLength(4)
    claims = 1
    await pool.controller.reconcile()
    await pool.controller.settled()
    expect(claims).toBe(0)
    expect(pool.driver.destroyed).toEqual([])
    expect(await pool.store.countSandboxes('alpha')).toEqual({ starting: 0, warm: 3, claimed: 1, destroying: 0 })
  })

  it('does not connect again to a sandbox claimed (its channel taken) while its pass read the pool', async () => {
    // The pass's read still lists the sandbox warm; the claim took this replica's channel after
    // it. Adopting it again opened a second connection to a sandbox a session now owns, and the
    // agent's claimed hello then counted as a lost warm sandbox (a retire that the claim wins).
    let claimed: { id: string; close: () => void } | undefined
    let claimNext = false
    const claimAfterRead = (s: Store): Store => new Proxy(s, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown
        if (typeof v !== 'function' || prop !== 'warmSnapshot') return v
        return async (...args: unknown[]) => {
          const out = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args)
          if (claimNext) {
            claimNext = false
            const c = await pool.runtime.claim({ ...session('s-1'), pool: 'alpha' })
            claimed = { id: c.claimed.sandbox.id, close: () => c.channel?.close() }
          }
          return out
        }
      },
    })
    pool = makePool({ policy: { kind: 'fixed', size: 2 }, maxSize: 3 }, {}, { wrapStore: claimAfterRead })
    await pool.converge()
    claimNext = true
    await pool.controller.reconcile()
    await pool.controller.settled()
    expect(claimed).toBeDefined()
    // The claim's own channel (taken from the controller) and nothing else.
    expect(pool.driver.agent(claimed!.id)!.connections).toBe(1)
    claimed!.close()
  })

  it('destroys surplus warm sandboxes, newest first, when the target drops', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 4 } })
    await pool.converge()
    // The operator lowered the size and restarted the gateway.
    const ctl = pool.restarted({ policy: { kind: 'fixed', size: 1 } })
    await ctl.reconcile()
    await ctl.settled()
    expect(await pool.warmIds()).toEqual(['sb-001'])
    expect(pool.driver.destroyed).toEqual(['sb-004', 'sb-003', 'sb-002'])
    expect(ctl.status()).toEqual({ ready: 1, starting: 0, claimed: 0, target: 1 })
  })

  it('backs off when creates fail: a bounded number of attempts per simulated minute, and says why', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 2 }, maxConcurrentCreates: 2 }, { failCreates: true })
    for (let t = 0; t <= 60_000; t += 100) {
      if (t > 0) pool.clock.advance(100)
      await pool.controller.reconcile()
      await pool.controller.settled()
    }
    // random() = 0 halves each wait: 2 failures at 0 s (500, 1000 ms), 2 at 1 s (2, 4 s), 2 at 5 s (8, 16 s),
    // 2 at 21 s (30, 30 s: capped at 60 s), 2 at 51 s: next try at 81 s.
    expect(pool.driver.createCalls).toBe(10)
    expect(await pool.metric('lab_sandbox_failures_total', { driver: 'fake', reason: 'create_failed' })).toBe(10)
    expect(pool.controller.status()).toMatchObject({ ready: 0, starting: 0, backoffUntil: 81_000 })
    expect(pool.controller.status().lastError).toMatch(/^create_failed: fake create #10 of sb-010 failed/)
    expect(await pool.store.listSandboxes()).toEqual([])
    expect(await pool.driver.list()).toEqual([])
    // The image is fixed: after the back-off, creates succeed and the error clears.
    pool.driver.set({ failCreates: false })
    expect(await pool.controller.reconcile()).toBe(Math.min(81_000 - 60_000, RESYNC_MS))
    pool.clock.advance(21_000)
    await pool.converge()
    expect(pool.controller.status()).toEqual({ ready: 2, starting: 0, claimed: 0, target: 2 })
  })

  it('limits creates to maxCreatesPerMin', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 10 }, maxCreatesPerMin: 3, maxConcurrentCreates: 10 })
    await pool.converge()
    expect(pool.driver.createCalls).toBe(3)
    // One token per 20 s: the pass says when to come back.
    expect(await pool.controller.reconcile()).toBe(RESYNC_MS)
    pool.clock.advance(20_000)
    await pool.converge()
    expect(pool.driver.createCalls).toBe(4)
  })

  it('recycles warm sandboxes older than maxWarmAgeS and wakes up exactly when the oldest expires', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 2 }, maxWarmAgeS: 5 })
    await pool.converge()
    expect(await pool.controller.reconcile()).toBe(5000)
    pool.clock.advance(4999)
    await pool.converge()
    expect(await pool.warmIds()).toEqual(['sb-001', 'sb-002'])
    pool.clock.advance(1)
    await pool.converge()
    expect(await pool.warmIds()).toEqual(['sb-003', 'sb-004'])
    expect(pool.driver.destroyed.sort()).toEqual(['sb-001', 'sb-002'])
  })

  it('replaces a warm sandbox killed from outside and counts the failure', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 2 } })
    await pool.converge()
    await pool.driver.kill('sb-001')
    await expect.poll(async () => pool.store.getSandbox('sb-001')).toBeUndefined()
    await pool.controller.settled()
    await pool.converge()
    expect(await pool.warmIds()).toEqual(['sb-002', 'sb-003'])
    expect(await pool.metric('lab_sandbox_failures_total', { driver: 'fake', reason: 'exited_early' })).toBe(1)
  })

  it('adopts warm sandboxes it did not start (after a restart) by connecting to them', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 1 } })
    await pool.converge()
    const ctl = pool.restarted()
    expect(ctl.takeWarm('sb-001')).toBeUndefined()
    await ctl.reconcile()
    await ctl.settled()
    expect(ctl.takeWarm('sb-001')?.hello.sandboxId).toBe('sb-001')
    expect(pool.driver.createCalls).toBe(1)
  })

  it('retires a warm record whose sandbox cannot be reached, and refills', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 1 } })
    await pool.converge()
    await pool.controller.stop() // the gateway went down; its sandboxes stay
    await pool.driver.kill('sb-001') // ...and this one died meanwhile
    const ctl = pool.restarted()
    await ctl.reconcile()
    await ctl.settled()
    expect(await pool.metric('lab_sandbox_failures_total', { driver: 'fake', reason: 'exited_early' })).toBe(1)
    expect(await pool.store.getSandbox('sb-001')).toBeUndefined()
    await ctl.reconcile()
    await ctl.settled()
    expect(await pool.warmIds()).toEqual(['sb-002'])
  })
})
