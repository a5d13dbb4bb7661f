import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SandboxHandle } from '../spec/sandbox-handle.ts'
import { poolSpecSchema } from '../spec/pool-spec.ts'
import { describeUsageContract } from './usage-contract.ts'
import { ENDED_REASONS, type EventType, type NewSession, type Store, type WebhookRecord } from './types.ts'

export interface StoreContractOptions {
  /** Called after each test with the store it used (e.g. to drop a test schema). */
  cleanup?: (store: Store) => Promise<void>
}

const handle = (id: string, pool = 'alpha'): SandboxHandle => ({
  id, pool, driver: 'fake', createdAt: 1, address: { kind: 'unix', path: `/tmp/${id}.sock` }, meta: { pid: 42 }, startMs: 7,
})
const session = (id: string, pool = 'alpha', user = 'ada', createdAt = 1000): NewSession =>
  ({ id, user, pool, createdAt, envNames: ['FOO', 'API_KEY'] })

/** Inserts a sandbox and marks it warm: created at `createdAt`, ready 10 ms later. */
async function warm(store: Store, id: string, createdAt: number, pool = 'alpha'): Promise<void> {
  await store.insertSandbox({ id, pool, createdAt })
  await store.markSandboxWarm(id, handle(id, pool), createdAt + 10)
}

/**
 * The behaviour every Store implementation must have. Call it from the implementation's test
 * file: `runStoreContract('sqlite', async () => new SqliteStore(':memory:'))`.
 */
export function runStoreContract(name: string, makeStore: () => Promise<Store>, opts: StoreContractOptions = {}): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store
    beforeEach(async () => {
      store = await makeStore()
    })
    afterEach(async () => {
      await opts.cleanup?.(store)
      await store.close()
    })

    describe('pools', () => {
      it('upserts, gets, lists and deletes pool specs', async () => {
        const a = poolSpecSchema.parse({ name: 'alpha', driver: 'fake', maxSize: 8 })
        const b = poolSpecSchema.parse({ name: 'beta', driver: 'fake', policy: { kind: 'erlang', targetMissRate: 0.01 } })
        await store.upsertPool(b, 1)
        await store.upsertPool(a, 1)
        expect(await store.getPool('alpha')).toEqual(a)
        expect((await store.listPools()).map((p) => p.name)).toEqual(['alpha', 'beta'])
        await store.upsertPool({ ...a, maxSize: 16 }, 2)
        expect((await store.getPool('alpha'))?.maxSize).toBe(16)
        await store.deletePool('alpha')
        expect(await store.getPool('alpha')).toBeUndefined()
        expect((await store.listPools()).map((p) => p.name)).toEqual(['beta'])
      })
    })

    describe('sandboxes', () => {
      it('goes through starting -> warm -> claimed -> destroying -> deleted', async () => {
        await store.insertSandbox({ id: 'sb-1', pool: 'alpha', createdAt: 100 })
        expect(await store.getSandbox('sb-1')).toEqual({
          id: 'sb-1', pool: 'alpha', state: 'starting', createdAt: 100, readyAt: null, claimedAt: null, sessionId: null, handle: null,
        })
        await store.markSandboxWarm('sb-1', handle('sb-1'), 150)
        expect(await store.getSandbox('sb-1')).toMatchObject({ state: 'warm', readyAt: 150, handle: handle('sb-1') })
        const claimed = await store.claimWarm('alpha', session('s-1'), 200)
        expect(claimed?.sandbox).toMatchObject({ id: 'sb-1', state: 'claimed', claimedAt: 200, sessionId: 's-1' })
        await store.markSandboxDestroying('sb-1')
        expect((await store.getSandbox('sb-1'))?.state).toBe('destroying')
        await store.deleteSandbox('sb-1')
        expect(await store.getSandbox('sb-1')).toBeUndefined()
        await store.deleteSandbox('sb-1') // idempotent
        expect((await store.getSession('s-1'))?.sandboxId).toBe('sb-1') // history keeps the binding
      })

      it('inserts within maxSize only, counting every sandbox of the pool not being destroyed', async () => {
        expect(await store.insertSandboxWithin({ id: 'sb-1', pool: 'alpha', createdAt: 1 }, 3)).toBe(true)
        await warm(store, 'sb-2', 2)
        await warm(store, 'sb-3', 3)
        await store.claimWarm('alpha', session('s-1'), 4)
        expect(await store.insertSandboxWithin({ id: 'sb-4', pool: 'alpha', createdAt: 4 }, 3)).toBe(false)
        expect(await store.getSandbox('sb-4')).toBeUndefined()
        // Another pool has its own count; a sandbox being destroyed (here the claimed one) no longer counts.
        expect(await store.insertSandboxWithin({ id: 'sb-b', pool: 'beta', createdAt: 5 }, 1)).toBe(true)
        await store.markSandboxDestroying('sb-2')
        expect(await store.insertSandboxWithin({ id: 'sb-5', pool: 'alpha', createdAt: 6 }, 3)).toBe(true)
        expect(await store.countSandboxes('alpha')).toEqual({ starting: 2, warm: 1, claimed: 0, destroying: 1 })
      })

      it('gives 20 concurrent inserts within maxSize 5 exactly 5 sandboxes', async () => {
        const ok = await Promise.all(Array.from({ length: 20 }, (_, i) => store.insertSandboxWithin({ id: `sb-c${i}`, pool: 'alpha', createdAt: i }, 5)))
        expect(ok.filter(Boolean)).toHaveLength(5)
        expect((await store.countSandboxes('alpha')).starting).toBe(5)
      })

      it('refuses to mark warm a sandbox that is not starting', async () => {
        await warm(store, 'sb-1', 100)
        await store.markSandboxDestroying('sb-1')
        await expect(store.markSandboxWarm('sb-1', handle('sb-1'), 300)).rejects.toThrow(/not starting/)
        await expect(store.markSandboxWarm('sb-nope', handle('sb-nope'), 300)).rejects.toThrow(/not starting/)
      })

      it('retires only a warm sandbox (warm -> destroying), atomically', async () => {
        await warm(store, 'sb-1', 100)
        await warm(store, 'sb-2', 200)
        await store.insertSandbox({ id: 'sb-3', pool: 'alpha', createdAt: 300 })
        await store.claimWarm('alpha', session('s-1'), 400)
        expect(await store.retireWarmSandbox('sb-1')).toBe(false) // claimed
        expect(await store.retireWarmSandbox('sb-3')).toBe(false) // starting
        expect(await store.retireWarmSandbox('sb-missing')).toBe(false)
        expect(await store.retireWarmSandbox('sb-2')).toBe(true)
        expect(await store.retireWarmSandbox('sb-2')).toBe(false)
        expect((await store.getSandbox('sb-2'))?.state).toBe('destroying')
        expect((await store.getSandbox('sb-1'))?.state).toBe('claimed')
      })

      it('lists with filters, ordered by creation, and counts per state', async () => {
        await warm(store, 'sb-b', 200)
        await warm(store, 'sb-a', 100)
        await store.insertSandbox({ id: 'sb-c', pool: 'alpha', createdAt: 300 })
        await warm(store, 'sb-x', 50, 'beta')
        await store.insertSandbox({ id: 'sb-d', pool: 'alpha', createdAt: 400 })
        await store.markSandboxDestroying('sb-d')
        await store.claimWarm('alpha', session('s-1'), 500)
        expect((await store.listSandboxes()).map((s) => s.id)).toEqual(['sb-x', 'sb-a', 'sb-b', 'sb-c', 'sb-d'])
        expect((await store.listSandboxes({ pool: 'alpha' })).map((s) => s.id)).toEqual(['sb-a', 'sb-b', 'sb-c', 'sb-d'])
        expect((await store.listSandboxes({ state: 'warm' })).map((s) => s.id)).toEqual(['sb-x', 'sb-b'])
        expect((await store.listSandboxes({ pool: 'alpha', state: 'claimed' })).map((s) => s.id)).toEqual(['sb-a'])
        expect(await store.countSandboxes('alpha')).toEqual({ starting: 1, warm: 1, claimed: 1, destroying: 1 })
        expect(await store.countSandboxes('beta')).toEqual({ starting: 0, warm: 1, claimed: 0, destroying: 0 })
        expect(await store.countSandboxes('gamma')).toEqual({ starting: 0, warm: 0, claimed: 0, destroying: 0 })
      })

      it('gives a pool\'s warm sandboxes and counts as one snapshot, equal to listSandboxes and countSandboxes at rest', async () => {
        await warm(store, 'sb-b', 200)
        await warm(store, 'sb-a', 100)
        await store.insertSandbox({ id: 'sb-c', pool: 'alpha', createdAt: 300 })
        await warm(store, 'sb-x', 50, 'beta')
        await store.claimWarm('alpha', session('s-1'), 500)
        await warm(store, 'sb-e', 600)
        expect(await store.warmSnapshot('alpha')).toEqual({
          warm: await store.listSandboxes({ pool: 'alpha', state: 'warm' }),
          counts: await store.countSandboxes('alpha'),
        })
        expect((await store.warmSnapshot('alpha')).warm.map((s) => s.id)).toEqual(['sb-b', 'sb-e'])
        expect(await store.warmSnapshot('gamma')).toEqual({ warm: [], counts: { starting: 0, warm: 0, claimed: 0, destroying: 0 } })
        expect(await store.warmSnapshot('beta')).toEqual({ warm: [await store.getSandbox('sb-x')], counts: { starting: 0, warm: 1, claimed: 0, destroying: 0 } })
      })

      it('never counts a sandbox claimed while the snapshot is read as both warm and claimed', async () => {
        for (let i = 0; i < 40; i++) await warm(store, `sb-${String(i).padStart(2, '0')}`, 100 + i)
        const snapshots: Awaited<ReturnType<Store['warmSnapshot']>>[] = []
        let claiming = true
        const reader = (async () => {
          while (claiming) snapshots.push(await store.warmSnapshot('alpha'))
        })()
        await Promise.all(Array.from({ length: 40 }, (_, i) => store.claimWarm('alpha', session(`s-${i}`), 500 + i)))
        claiming = false
        await reader
        snapshots.push(await store.warmSnapshot('alpha'))
        for (const snap of snapshots) {
          expect(snap.warm).toHaveLength(snap.counts.warm)
          expect(snap.counts.warm + snap.counts.claimed).toBe(40)
        }
        expect(snapshots.at(-1)!.counts).toEqual({ starting: 0, warm: 0, claimed: 40, destroying: 0 })
      })
    })

    describe('claimWarm', () => {
      it('picks the oldest warm sandbox of the pool and creates the session bound to it', async () => {
        await warm(store, 'sb-new', 300)
        await warm(store, 'sb-old', 100)
        await warm(store, 'sb-other-pool', 10, 'beta')
        await store.insertSandbox({ id: 'sb-starting', pool: 'alpha', createdAt: 1 })
        const c = await store.claimWarm('alpha', session('s-1'), 1234)
        expect(c?.sandbox.id).toBe('sb-old')
        expect(c?.session).toEqual({
          id: 's-1', user: 'ada', pool: 'alpha', sandboxId: 'sb-old', state: 'starting', warm: true, createdAt: 1000,
          endedAt: null, endedReason: null, timings: {}, envNames: ['FOO', 'API_KEY'], network: null, hasCredentials: false,
          keyId: null, labels: {}, expiresAt: null, idleTimeoutS: null, endedBy: null,
        })
        expect(await store.getSession('s-1')).toEqual(c?.session)
        expect((await store.claimWarm('alpha', session('s-2'), 1235))?.sandbox.id).toBe('sb-new')
      })

      it('returns the records as the store then reads them, every field of the session set (warm and a given sandbox)', async () => {
        await warm(store, 'sb-1', 100)
        await warm(store, 'sb-2', 200)
        const full: NewSession = {
          ...session('s-full', 'alpha', 'grace', 1500), keyId: 'key-1', actor: 'ci', labels: { team: 'a', 'app.kubernetes.io/name': 'x' },
          network: { egress: 'allow', allow: ['example.com', '10.0.0.0/8'], deny: ['bad.example.com:443'] },
          sealedCredentials: 'v1.sealed', expiresAt: 99_000, idleTimeoutS: 60, attachToken: { tokenHash: 'h-full', expiresAt: 5000 },
        }
        for (const c of [await store.claimWarm('alpha', full, 1600), await store.claimSandbox('sb-2', { ...full, id: 's-cold', attachToken: { tokenHash: 'h-cold', expiresAt: 5000 } }, 1700)]) {
          expect(c).toBeDefined()
          expect(c!.session).toStrictEqual(await store.getSession(c!.session.id))
          expect(c!.sandbox).toStrictEqual(await store.getSandbox(c!.sandbox.id))
        }
        expect((await store.getSession('s-full'))).toMatchObject({ sandboxId: 'sb-1', warm: true, hasCredentials: true, keyId: 'key-1', labels: { team: 'a' }, idleTimeoutS: 60 })
        expect((await store.getSandbox('sb-2'))).toMatchObject({ state: 'claimed', sessionId: 's-cold', claimedAt: 1700, readyAt: 210 })
      })

      it('returns undefined when no sandbox of the pool is warm, and creates no session', async () => {
        await warm(store, 'sb-1', 100, 'beta')
        await store.insertSandbox({ id: 'sb-2', pool: 'alpha', createdAt: 1 })
        expect(await store.claimWarm('alpha', session('s-1'), 5)).toBeUndefined()
        expect(await store.getSession('s-1')).toBeUndefined()
      })

      it('gives 50 concurrent claims over 20 warm sandboxes 20 distinct sandboxes and 30 undefined', async () => {
        for (let i = 0; i < 20; i++) await warm(store, `sb-${String(i).padStart(2, '0')}`, 100 + i)
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.claimWarm('alpha', session(`s-${i}`), 500)))
        const got = results.filter((r) => r !== undefined)
        expect(got).toHaveLength(20)
        expect(results.filter((r) => r === undefined)).toHaveLength(30)
        expect(new Set(got.map((r) => r.sandbox.id)).size).toBe(20)
        expect(new Set(got.map((r) => r.session.id)).size).toBe(20)
        expect(await store.countSandboxes('alpha')).toEqual({ starting: 0, warm: 0, claimed: 20, destroying: 0 })
        expect(await store.listSessions()).toHaveLength(20)
      })
    })

    describe('claimSandbox', () => {
      it('binds a specific warm sandbox as a cold session', async () => {
        await warm(store, 'sb-old', 100)
        await warm(store, 'sb-mine', 200)
        const c = await store.claimSandbox('sb-mine', session('s-1'), 300)
        expect(c?.sandbox).toMatchObject({ id: 'sb-mine', state: 'claimed', sessionId: 's-1', claimedAt: 300 })
        expect(c?.session).toMatchObject({ id: 's-1', sandboxId: 'sb-mine', warm: false, state: 'starting' })
        expect((await store.getSandbox('sb-old'))?.state).toBe('warm')
      })

      it('binds only a warm sandbox: not starting, claimed, destroying, missing or of another pool', async () => {
        await store.insertSandbox({ id: 'sb-starting', pool: 'alpha', createdAt: 1 })
        await warm(store, 'sb-claimed', 2)
        await store.claimSandbox('sb-claimed', session('s-0'), 3)
        await warm(store, 'sb-destroying', 4)
        await store.markSandboxDestroying('sb-destroying')
        await warm(store, 'sb-beta', 5, 'beta')
        for (const id of ['sb-starting', 'sb-claimed', 'sb-destroying', 'sb-missing', 'sb-beta']) {
          expect(await store.claimSandbox(id, session(`s-${id}`), 10)).toBeUndefined()
          expect(await store.getSession(`s-${id}`)).toBeUndefined()
        }
        expect((await store.getSandbox('sb-claimed'))?.sessionId).toBe('s-0')
      })
    })

    describe('sessions', () => {
      beforeEach(async () => {
        await warm(store, 'sb-1', 1)
        await warm(store, 'sb-2', 2)
        await warm(store, 'sb-3', 3, 'beta')
        await store.claimWarm('alpha', session('s-1', 'alpha', 'ada', 10), 10)
        await store.claimWarm('alpha', session('s-2', 'alpha', 'bob', 20), 20)
        await store.claimWarm('beta', session('s-3', 'beta', 'ada', 30), 30)
      })

      it('lists sessions newest first, filtered by user, state and pool', async () => {
        await store.markSessionRunning('s-2', { claim: 1.5, bind: 0.25 }, 7)
        await store.endSession('s-3', 'exited', 40)
        const ids = async (f?: Parameters<Store['listSessions']>[0]) => (await store.listSessions(f)).map((s) => s.id)
        expect(await ids()).toEqual(['s-3', 's-2', 's-1'])
        expect(await ids({ user: 'ada' })).toEqual(['s-3', 's-1'])
        expect(await ids({ state: 'running' })).toEqual(['s-2'])
        expect(await ids({ state: 'ended' })).toEqual(['s-3'])
        expect(await ids({ pool: 'alpha' })).toEqual(['s-2', 's-1'])
        expect(await ids({ user: 'ada', pool: 'alpha', state: 'starting' })).toEqual(['s-1'])
        expect(await ids({ user: 'carol' })).toEqual([])
        expect(await store.getSession('s-2')).toMatchObject({ state: 'running', timings: { claim: 1.5, bind: 0.25 } })
      })

      it('ends a session once: endSession is idempotent and returns true only the first time', async () => {
        expect(await store.endSession('s-1', 'terminated', 50)).toBe(true)
        expect(await store.endSession('s-1', 'idle_timeout', 60)).toBe(false)
        expect(await store.getSession('s-1')).toMatchObject({ state: 'ended', endedAt: 50, endedReason: 'terminated' })
        expect(await store.endSession('s-missing', 'terminated', 50)).toBe(false)
      })

      it('stores every ended reason as it was given', async () => {
        for (const [i, reason] of ENDED_REASONS.entries()) {
          const id = `s-reason-${i}`
          await warm(store, `sb-reason-${i}`, 100 + i, 'gamma')
          await store.claimWarm('gamma', session(id, 'gamma'), 200 + i)
          expect(await store.endSession(id, reason, 300 + i)).toBe(true)
          expect(await store.getSession(id)).toMatchObject({ state: 'ended', endedReason: reason })
        }
      })

      it('keeps the latest activity any caller recorded, never moving it back, for sessions not ended', async () => {
        expect(await store.getSessionTimers(['s-1', 's-2'])).toEqual([
          { id: 's-1', expiresAt: null, lastActiveAt: null, warnedFor: null },
          { id: 's-2', expiresAt: null, lastActiveAt: null, warnedFor: null },
        ])
        await store.recordSessionActivity([{ id: 's-1', at: 500 }, { id: 's-2', at: 300 }])
        await store.recordSessionActivity([{ id: 's-1', at: 400 }, { id: 's-2', at: 600 }, { id: 's-missing', at: 700 }])
        await store.recordSessionActivity([])
        await store.setSessionExpiry('s-2', 9000)
        const byId = (t: Awaited<ReturnType<Store['getSessionTimers']>>) => Object.fromEntries(t.map((x) => [x.id, x]))
        expect(byId(await store.getSessionTimers(['s-1', 's-2', 's-missing']))).toEqual({
          's-1': { id: 's-1', expiresAt: null, lastActiveAt: 500, warnedFor: null },
          's-2': { id: 's-2', expiresAt: 9000, lastActiveAt: 600, warnedFor: null },
        })
        await store.endSession('s-1', 'exited', 800)
        await store.recordSessionActivity([{ id: 's-1', at: 900 }])
        expect(await store.getSessionTimers(['s-1'])).toEqual([])
        expect(await store.getSessionTimers([])).toEqual([])
      })

      it('records a warning of one deadline once, again for a moved deadline, and none for an ended session', async () => {
        expect(await store.markSessionWarned('s-1', 5000)).toBe(true)
        expect(await store.markSessionWarned('s-1', 5000)).toBe(false)
        expect(await store.getSessionTimers(['s-1'])).toMatchObject([{ warnedFor: 5000 }])
        expect(await store.markSessionWarned('s-1', 6000)).toBe(true)
        const both = await Promise.all([store.markSessionWarned('s-2', 7000), store.markSessionWarned('s-2', 7000)])
        expect(both.filter(Boolean)).toHaveLength(1)
        await store.endSession('s-1', 'idle_timeout', 6000)
        expect(await store.markSessionWarned('s-1', 8000)).toBe(false)
        expect(await store.markSessionWarned('s-missing', 8000)).toBe(false)
      })

      it('does not move an ended session back to running', async () => {
        await store.endSession('s-1', 'sandbox_lost', 50)
        await store.markSessionRunning('s-1', { claim: 1 }, 7)
        expect((await store.getSession('s-1'))?.state).toBe('ended')
      })

      it('records timings without changing the state', async () => {
        await store.markSessionTimings('s-1', { claimMs: 2.5 })
        expect(await store.getSession('s-1')).toMatchObject({ state: 'starting', timings: { claimMs: 2.5 } })
        await store.markSessionRunning('s-1', { claimMs: 2.5, agentReadyMs: 1 }, 7)
        expect(await store.getSession('s-1')).toMatchObject({ state: 'running', timings: { claimMs: 2.5, agentReadyMs: 1 } })
      })

      it('stores env names only', async () => {
        expect((await store.getSession('s-1'))?.envNames).toEqual(['FOO', 'API_KEY'])
      })

      it('keeps a network policy and sealed credentials with the claim; replaces the policy until the session ends', async () => {
        expect(await store.getSession('s-1')).toMatchObject({ network: null, hasCredentials: false })
        expect(await store.getSessionCredentials('s-1')).toBeUndefined()
        await warm(store, 'sb-net', 50)
        const policy = { egress: 'allow' as const, allow: ['example.com', '*.npmjs.org'], deny: ['bad.example.com'] }
        await store.claimWarm('alpha', { ...session('s-net'), network: policy, sealedCredentials: 'v1.sealed-bytes' }, 60)
        expect(await store.getSession('s-net')).toMatchObject({ network: policy, hasCredentials: true })
        expect(await store.getSessionCredentials('s-net')).toBe('v1.sealed-bytes')
        expect(await store.setSessionNetwork('s-net', { egress: 'none' })).toBe(true)
        expect((await store.getSession('s-net'))?.network).toEqual({ egress: 'none' })
        expect(await store.setSessionNetwork('s-missing', { egress: 'none' })).toBe(false)
        // An ended session's credentials are dropped, and its policy is frozen.
        await store.endSession('s-net', 'terminated', 70)
        expect(await store.getSessionCredentials('s-net')).toBeUndefined()
        expect(await store.getSession('s-net')).toMatchObject({ hasCredentials: false, network: { egress: 'none' } })
        expect(await store.setSessionNetwork('s-net', { egress: 'open' })).toBe(false)
      })
    })

    describe('leases', () => {
      it('gives a free lease to one holder and refuses another while it runs', async () => {
        expect(await store.getLease('pool:alpha')).toBeUndefined()
        expect(await store.acquireLease('pool:alpha', 'r1', 1000, 600)).toBe(true)
        expect(await store.acquireLease('pool:alpha', 'r2', 1599, 600)).toBe(false)
        expect(await store.getLease('pool:alpha')).toEqual({ name: 'pool:alpha', holder: 'r1', expiresAt: 1600, acquiredAt: 1000 })
        // Leases are independent by name.
        expect(await store.acquireLease('pool:beta', 'r2', 1000, 600)).toBe(true)
        expect((await store.getLease('pool:beta'))?.holder).toBe('r2')
      })

      it('renews for its holder, keeping when it was taken, and passes to another once lapsed', async () => {
        expect(await store.acquireLease('pool:alpha', 'r1', 1000, 600)).toBe(true)
        expect(await store.acquireLease('pool:alpha', 'r1', 1200, 600)).toBe(true)
        expect(await store.getLease('pool:alpha')).toEqual({ name: 'pool:alpha', holder: 'r1', expiresAt: 1800, acquiredAt: 1000 })
        expect(await store.acquireLease('pool:alpha', 'r2', 1799, 600)).toBe(false)
        expect(await store.acquireLease('pool:alpha', 'r2', 1800, 600)).toBe(true)
        expect(await store.getLease('pool:alpha')).toEqual({ name: 'pool:alpha', holder: 'r2', expiresAt: 2400, acquiredAt: 1800 })
        // The former holder, late, cannot renew what it lost.
        expect(await store.acquireLease('pool:alpha', 'r1', 1900, 600)).toBe(false)
        expect((await store.getLease('pool:alpha'))?.holder).toBe('r2')
      })

      it('is released only by its holder, and is then free at once', async () => {
        expect(await store.acquireLease('pool:alpha', 'r1', 1000, 600)).toBe(true)
        expect(await store.releaseLease('pool:alpha', 'r2')).toBe(false)
        expect((await store.getLease('pool:alpha'))?.holder).toBe('r1')
        expect(await store.releaseLease('pool:alpha', 'r1')).toBe(true)
        expect(await store.getLease('pool:alpha')).toBeUndefined()
        expect(await store.releaseLease('pool:alpha', 'r1')).toBe(false)
        expect(await store.acquireLease('pool:alpha', 'r2', 1001, 600)).toBe(true)
        expect(await store.getLease('pool:alpha')).toEqual({ name: 'pool:alpha', holder: 'r2', expiresAt: 1601, acquiredAt: 1001 })
      })

      it('goes to exactly one of many holders asking at once', async () => {
        const holders = Array.from({ length: 12 }, (_, i) => `r${i}`)
        const got = await Promise.all(holders.map((h) => store.acquireLease('pool:alpha', h, 1000, 600)))
        expect(got.filter(Boolean)).toHaveLength(1)
        expect((await store.getLease('pool:alpha'))?.holder).toBe(holders[got.indexOf(true)])
      })
    })

    describe('attach tokens', () => {
      it('puts, gets and deletes expired tokens', async () => {
        await warm(store, 'sb-1', 1)
        await store.claimWarm('alpha', session('s-1'), 5)
        await store.putAttachToken({ tokenHash: 'a'.repeat(64), sessionId: 's-1', expiresAt: 100 })
        await store.putAttachToken({ tokenHash: 'b'.repeat(64), sessionId: 's-1', expiresAt: 200 })
        expect(await store.getAttachToken('a'.repeat(64))).toEqual({ tokenHash: 'a'.repeat(64), sessionId: 's-1', expiresAt: 100 })
        expect(await store.getAttachToken('c'.repeat(64))).toBeUndefined()
        expect(await store.deleteExpiredAttachTokens(99)).toBe(0)
        expect(await store.deleteExpiredAttachTokens(100)).toBe(1)
        expect(await store.getAttachToken('a'.repeat(64))).toBeUndefined()
        expect(await store.getAttachToken('b'.repeat(64))).toMatchObject({ expiresAt: 200 })
        expect(await store.deleteExpiredAttachTokens(1000)).toBe(1)
      })

      it('reads a token with its session in one call, as getAttachToken and getSession do apart', async () => {
        await warm(store, 'sb-1', 1)
        await store.claimWarm('alpha', { ...session('s-1'), labels: { team: 'a' } }, 5)
        await store.putAttachToken({ tokenHash: 'a'.repeat(64), sessionId: 's-1', expiresAt: 100 })
        const got = await store.getAttachTokenSession('a'.repeat(64))
        expect(got).toEqual({ token: await store.getAttachToken('a'.repeat(64)), session: await store.getSession('s-1') })
        expect(got!.session).toMatchObject({ id: 's-1', state: 'starting', labels: { team: 'a' } })
        expect(await store.getAttachTokenSession('c'.repeat(64))).toBeUndefined()
        await store.endSession('s-1', 'terminated', 9)
        expect((await store.getAttachTokenSession('a'.repeat(64)))!.session).toMatchObject({ state: 'ended', endedReason: 'terminated' })
      })

      it('stores a session\'s first token with its claim (warm or a given sandbox), and none when the claim finds no sandbox', async () => {
        const token = (c: string) => ({ tokenHash: c.repeat(64), expiresAt: 900 })
        await warm(store, 'sb-1', 1)
        await warm(store, 'sb-2', 2)
        await store.claimWarm('alpha', { ...session('s-1'), attachToken: token('a') }, 5)
        await store.claimSandbox('sb-2', { ...session('s-2'), attachToken: token('b') }, 6)
        expect(await store.getAttachToken('a'.repeat(64))).toEqual({ tokenHash: 'a'.repeat(64), sessionId: 's-1', expiresAt: 900 })
        expect(await store.getAttachToken('b'.repeat(64))).toEqual({ tokenHash: 'b'.repeat(64), sessionId: 's-2', expiresAt: 900 })
        expect(await store.claimWarm('alpha', { ...session('s-3'), attachToken: token('c') }, 7)).toBeUndefined()
        expect(await store.claimSandbox('sb-1', { ...session('s-4'), attachToken: token('d') }, 8)).toBeUndefined()
        expect(await store.getAttachToken('c'.repeat(64))).toBeUndefined()
        expect(await store.getAttachToken('d'.repeat(64))).toBeUndefined()
      })

      it('moves a token to the session of a later claim that carries it (a retried claim keeps its token)', async () => {
        await warm(store, 'sb-1', 1)
        await warm(store, 'sb-2', 2)
        const attachToken = { tokenHash: 'e'.repeat(64), expiresAt: 900 }
        await store.claimWarm('alpha', { ...session('s-1'), attachToken }, 5)
        await store.endSession('s-1', 'claim_failed', 6)
        await store.claimWarm('alpha', { ...session('s-2'), attachToken }, 7)
        expect(await store.getAttachToken('e'.repeat(64))).toMatchObject({ sessionId: 's-2' })
      })
    })

    describeUsageContract(() => store)
    describe('event log', () => {
      const event = (type: EventType, at: number, user = 'ada') => ({ at, type, pool: 'alpha', user, sessionId: 's-1', data: { n: at } })

      it('gives ids that only grow, lists after an id, and says the last id even once the purge took every event', async () => {
        expect(await store.lastEventId()).toBe(0)
        const a = await store.appendEvent(event('session.created', 10))
        const b = await store.appendEvent(event('session.ended', 20))
        expect(b).toBeGreaterThan(a)
        expect(await store.lastEventId()).toBe(b)
        expect((await store.listEvents(a, 10)).map((e) => [e.id, e.type, e.data])).toEqual([[b, 'session.ended', { n: 20 }]])
        expect(await store.purgeEvents(100)).toBe(2)
        expect(await store.listEvents(0, 10)).toEqual([])
        expect(await store.lastEventId()).toBe(b)
        expect(await store.appendEvent(event('session.created', 30))).toBeGreaterThan(b)
      })

      it('purges from the oldest event up to the first one still to keep, and keeps ids growing', async () => {
        const ids = []
        for (const at of [10, 20, 15, 40, 30, 50]) ids.push(await store.appendEvent(event('pool.status', at)))
        // kept: from the first event at or after 30 (at 40) on, even one a little older behind it
        expect(await store.purgeEvents(30)).toBe(3)
        expect((await store.listEvents(0, 10)).map((e) => e.at)).toEqual([40, 30, 50])
        expect(await store.purgeEvents(1000)).toBe(3)
        expect(await store.listEvents(0, 10)).toEqual([])
        expect(await store.purgeEvents(1000)).toBe(0)
        expect(await store.appendEvent(event('pool.status', 60))).toBeGreaterThan(ids.at(-1)!)
      })

      it('tells its watchers after every write that appends an event, and not after one that does not', async () => {
        let told = 0
        const stop = store.watchEvents(() => told++)
        await store.appendEvent(event('pool.status', 1))
        await warm(store, 'sb-1', 1)
        await store.claimWarm('alpha', session('s-1'), 5) // session.created
        await store.claimWarm('alpha', session('s-2'), 5) // nothing warm: no event
        await store.markSessionRunning('s-1', {}, 7)
        await store.endSession('s-1', 'exited', 9)
        await store.endSession('s-1', 'exited', 9) // already ended: no event
        expect(told).toBe(4)
        expect((await store.listEvents(0, 10)).map((e) => e.type)).toEqual(['pool.status', 'session.created', 'session.running', 'session.ended'])
        stop()
        await store.appendEvent(event('pool.status', 2))
        expect(told).toBe(4)
      })
    })

    describe('webhooks', () => {
      const hook = (id: string, events: EventType[], createdAt = 1): WebhookRecord =>
        ({ id, url: `https://hooks.example/${id}`, events, sealedSecret: `v1.sealed-${id}`, createdAt, createdBy: 'admin' })
      const event = (type: EventType, at: number) => store.appendEvent({ at, type, pool: 'alpha', user: 'ada', sessionId: 's-1', data: {} })

      it('hands each later event of a wanted type to each webhook once, as a pending delivery due now', async () => {
        await event('session.created', 1) // before any webhook: nobody's
        await store.insertWebhook(hook('wh-a', ['session.created', 'session.ended']))
        await store.insertWebhook(hook('wh-b', ['session.ended']))
        const created = await event('session.created', 2)
        const ended = await event('session.ended', 3)
        await event('pool.status', 4)
        expect(await store.enqueueDeliveries(2, 100)).toBe(2)
        expect(await store.enqueueDeliveries(10, 100)).toBe(2)
        expect(await store.enqueueDeliveries(10, 100)).toBe(0)
        const due = await store.claimDueDeliveries(100, 10, 30_000)
        expect(due.map((d) => [d.webhookId, d.event?.id, d.attempts, d.url, d.sealedSecret]).sort()).toEqual([
          ['wh-a', created, 0, 'https://hooks.example/wh-a', 'v1.sealed-wh-a'],
          ['wh-a', ended, 0, 'https://hooks.example/wh-a', 'v1.sealed-wh-a'],
          ['wh-b', ended, 0, 'https://hooks.example/wh-b', 'v1.sealed-wh-b'],
        ].sort())
        expect(new Set(due.map((d) => d.id)).size).toBe(3)
        expect(due.find((d) => d.event?.id === created)).toMatchObject({ eventAt: 2, event: { type: 'session.created', user: 'ada', pool: 'alpha' } })
        const list = await store.listWebhooks()
        expect(list.map((w) => [w.id, w.events, w.pending, w.lastStatus, w.lastAttemptAt])).toEqual([
          ['wh-a', ['session.created', 'session.ended'], 2, null, null], ['wh-b', ['session.ended'], 1, null, null],
        ])
      })

      it('leases what it hands out: not due again until the lease ends, or the next attempt the worker records', async () => {
        await store.insertWebhook(hook('wh-a', ['session.ended']))
        await event('session.ended', 1)
        await store.enqueueDeliveries(10, 100)
        const [d] = await store.claimDueDeliveries(100, 10, 30_000)
        expect(await store.claimDueDeliveries(100, 10, 30_000)).toEqual([])
        expect((await store.claimDueDeliveries(130_000, 10, 30_000)).map((x) => x.id)).toEqual([d!.id]) // the lease ran out
        expect(await store.recordDeliveryAttempt(d!.id, { at: 130_000, status: 500, error: 'HTTP 500', state: 'pending', nextAttemptAt: 140_000 })).toBe(true)
        expect(await store.claimDueDeliveries(139_999, 10, 30_000)).toEqual([])
        const [again] = await store.claimDueDeliveries(140_000, 10, 30_000)
        expect(again).toMatchObject({ id: d!.id, attempts: 1 })
        expect((await store.listWebhooks())[0]).toMatchObject({ lastAttemptAt: 130_000, lastStatus: 500, lastError: 'HTTP 500', pending: 1 })
        await store.recordDeliveryAttempt(d!.id, { at: 150_000, status: 204, error: null, state: 'delivered', nextAttemptAt: 150_000 })
        expect((await store.listWebhooks())[0]).toMatchObject({ lastAttemptAt: 150_000, lastStatus: 204, lastError: null, pending: 0 })
        expect(await store.claimDueDeliveries(10_000_000, 10, 30_000)).toEqual([])
        // done deliveries go with the purge; a pending one stays
        expect(await store.purgeDeliveries(2)).toBe(1)
      })

      it('says whether any webhook exists', async () => {
        expect(await store.hasWebhooks()).toBe(false)
        await store.insertWebhook(hook('wh-a', ['session.ended']))
        await store.insertWebhook(hook('wh-b', ['session.ended']))
        expect(await store.hasWebhooks()).toBe(true)
        await store.deleteWebhook('wh-a')
        expect(await store.hasWebhooks()).toBe(true)
        await store.deleteWebhook('wh-b')
        expect(await store.hasWebhooks()).toBe(false)
      })

      it('deletes a webhook with its deliveries; the worker then records nothing', async () => {
        await store.insertWebhook(hook('wh-a', ['session.ended']))
        await event('session.ended', 1)
        await store.enqueueDeliveries(10, 100)
        const [d] = await store.claimDueDeliveries(100, 10, 30_000)
        expect(await store.deleteWebhook('wh-a')).toBe(true)
        expect(await store.deleteWebhook('wh-a')).toBe(false)
        expect(await store.listWebhooks()).toEqual([])
        expect(await store.recordDeliveryAttempt(d!.id, { at: 200, status: 200, error: null, state: 'delivered', nextAttemptAt: 200 })).toBe(false)
      })

      it('gives a delivery whose event the log no longer has no event', async () => {
        await store.insertWebhook(hook('wh-a', ['session.ended']))
        await event('session.ended', 1)
        await store.enqueueDeliveries(10, 100)
        await store.purgeEvents(50)
        const [d] = await store.claimDueDeliveries(100, 10, 30_000)
        expect(d).toMatchObject({ eventAt: 1, event: undefined })
      })
    })
  })
}
