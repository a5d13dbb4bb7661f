import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock/manual-clock.ts'
import { SqliteStore } from '../store/sqlite/sqlite-store.ts'
import type { Store } from '../store/types.ts'
import { ClaimWaiters } from './waiters.ts'
import { session } from './test-fixture.ts'

const handle = (id: string) => ({ id, pool: 'alpha', driver: 'fake' as const, createdAt: 0, address: { kind: 'unix' as const, path: `/tmp/${id}` }, meta: {} })

describe('ClaimWaiters', () => {
  let store: SqliteStore
  let clock: ManualClock
  let waiters: ClaimWaiters
  const warm = async (id: string) => {
    await store.insertSandbox({ id, pool: 'alpha', createdAt: 0 })
    await store.markSandboxWarm(id, handle(id), 0)
  }
  beforeEach(() => {
    store = new SqliteStore(':memory:')
    clock = new ManualClock(0)
    waiters = new ClaimWaiters({ pool: 'alpha', store, clock })
  })
  afterEach(async () => {
    await store.close()
  })

  it('hands each sandbox to the oldest waiter', async () => {
    const a = waiters.wait(session('s-a'), 1000)
    const b = waiters.wait(session('s-b'), 1000)
    await warm('sb-1')
    expect(await waiters.handOff('sb-1')).toBe(true)
    expect((await a).session).toMatchObject({ id: 's-a', sandboxId: 'sb-1' })
    await warm('sb-2')
    expect(await waiters.handOff('sb-2')).toBe(true)
    expect((await b).session).toMatchObject({ id: 's-b', sandboxId: 'sb-2' })
    await warm('sb-3')
    expect(await waiters.handOff('sb-3')).toBe(false)
    expect((await store.getSandbox('sb-3'))?.state).toBe('warm')
  })

  it('keeps a waiter at the head when another claim took the sandbox first', async () => {
    const a = waiters.wait(session('s-a'), 1000)
    await warm('sb-1')
    await store.claimWarm('alpha', session('s-other'), 0)
    expect(await waiters.handOff('sb-1')).toBe(false)
    expect(waiters.size).toBe(1)
    await warm('sb-2')
    expect(await waiters.handOff('sb-2')).toBe(true)
    expect((await a).sandbox.id).toBe('sb-2')
  })

  it('gives a claim made while its timeout fired to the waiter all the same, so no sandbox is claimed for nobody', async () => {
    let inStore: (() => void) | undefined
    const slow = new Proxy(store, {
      get(target, name, receiver) {
        if (name !== 'claimSandbox') return Reflect.get(target, name, receiver)
        return async (...args: Parameters<Store['claimSandbox']>) => {
          await new Promise<void>((resolve) => { inStore = resolve })
          return target.claimSandbox(...args)
        }
      },
    })
    waiters = new ClaimWaiters({ pool: 'alpha', store: slow, clock })
    const a = waiters.wait(session('s-a'), 1000)
    await warm('sb-1')
    const handing = waiters.handOff('sb-1')
    await expect.poll(() => inStore).toBeDefined()
    clock.advance(1000) // the timeout fires while the claim is in the store
    inStore!()
    expect(await handing).toBe(true)
    expect((await a).session.id).toBe('s-a')
  })

  it('a waiter the store refuses (a quota) hears why, and the next waiter gets the sandbox', async () => {
    await warm('sb-0')
    await store.claimWarm('alpha', session('s-open', 'ada'), 0) // ada has one session open
    const refused = waiters.wait({ ...session('s-a', 'ada'), admission: { maxSessionsPerUser: 1 } }, 1000).catch((e: unknown) => e)
    const next = waiters.wait(session('s-b', 'bob'), 1000)
    await warm('sb-1')
    expect(await waiters.handOff('sb-1')).toBe(true)
    expect(await refused).toMatchObject({ name: 'QuotaRefused', limit: 'maxSessionsPerUser' })
    expect((await next).sandbox.id).toBe('sb-1')
  })

  it('a waiter leaves at its timeout and when its signal aborts, and then takes nothing', async () => {
    const gone = new AbortController()
    const timedOut = waiters.wait(session('s-a'), 500).catch((e: unknown) => e)
    const cancelled = waiters.wait(session('s-b'), 5000, gone.signal).catch((e: unknown) => e)
    clock.advance(500)
    expect(await timedOut).toMatchObject({ name: 'ClaimTimeout', timeoutMs: 500 })
    gone.abort()
    expect(await cancelled).toMatchObject({ name: 'ClaimCancelled' })
    expect(waiters.size).toBe(0)
    expect(clock.pendingTimers()).toBe(0)
    await warm('sb-1')
    expect(await waiters.handOff('sb-1')).toBe(false)
    expect(await store.listSessions()).toEqual([])
  })
})
