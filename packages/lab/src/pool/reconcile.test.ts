import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock/manual-clock.ts'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { SqliteStore } from '../store/sqlite/sqlite-store.ts'
import { reconcileOnStart } from './reconcile.ts'
import { poolSpecSchema } from '../spec/pool-spec.ts'

const spec = (id: string) => ({ id, pool: 'alpha', limits: { pids: 256, memoryMb: 512, cpus: 1 }, network: false, helloTimeoutMs: 2000 })
const session = (id: string) => ({ id, user: 'ada', pool: 'alpha', createdAt: 1, envNames: [] })

describe('reconcileOnStart', () => {
  const driver = new FakeDriver()
  let store: SqliteStore
  afterEach(async () => {
    await driver.teardown()
    await store.close()
  })

  it('destroys orphans, deletes records of vanished sandboxes, ends their sessions, keeps live warm and claimed ones', async () => {
    store = new SqliteStore(':memory:')
    const clock = new ManualClock(5000)
    const live = async (id: string) => driver.create(spec(id))
    // Alive and known as warm / claimed: kept.
    await store.insertSandbox({ id: 'sb-warm', pool: 'alpha', createdAt: 1 })
    await store.markSandboxWarm('sb-warm', await live('sb-warm'), 2)
    await store.insertSandbox({ id: 'sb-claimed', pool: 'alpha', createdAt: 1 })
    await store.markSandboxWarm('sb-claimed', await live('sb-claimed'), 2)
    await store.claimSandbox('sb-claimed', session('s-alive'), 3)
    // Alive but unknown, or known only as starting / destroying: orphans.
    await live('sb-unknown')
    await store.insertSandbox({ id: 'sb-starting', pool: 'alpha', createdAt: 1 })
    await live('sb-starting')
    await store.insertSandbox({ id: 'sb-destroying', pool: 'alpha', createdAt: 1 })
    await live('sb-destroying')
    await store.markSandboxDestroying('sb-destroying')
    // Known but gone: records deleted, sessions ended.
    const gone = await live('sb-gone')
    await store.insertSandbox({ id: 'sb-gone', pool: 'alpha', createdAt: 1 })
    await store.markSandboxWarm('sb-gone', gone, 2)
    await store.claimSandbox('sb-gone', session('s-lost'), 3)
    await store.markSessionRunning('s-lost', {}, 4)
    await driver.kill('sb-gone')
    const gone2 = await live('sb-gone-warm')
    await store.insertSandbox({ id: 'sb-gone-warm', pool: 'alpha', createdAt: 1 })
    await store.markSandboxWarm('sb-gone-warm', gone2, 2)
    await driver.kill('sb-gone-warm')
    // A running session whose sandbox record was deleted outright.
    await store.insertSandbox({ id: 'sb-x', pool: 'alpha', createdAt: 1 })
    await store.markSandboxWarm('sb-x', { ...gone, id: 'sb-x' }, 2)
    await store.claimSandbox('sb-x', session('s-orphaned'), 3)
    await store.deleteSandbox('sb-x')

    const report = await reconcileOnStart({ driver, store, logger: pino({ level: 'silent' }), clock })

    expect(report.kept.sort()).toEqual(['sb-claimed', 'sb-warm'])
    expect(report.orphansDestroyed.sort()).toEqual(['sb-destroying', 'sb-starting', 'sb-unknown'])
    expect(report.recordsDeleted.sort()).toEqual(['sb-gone', 'sb-gone-warm'])
    expect(report.sessionsEnded.sort()).toEqual(['s-lost', 's-orphaned'])
    expect((await driver.list()).map((h) => h.id).sort()).toEqual(['sb-claimed', 'sb-warm'])
    expect((await store.listSandboxes()).map((s) => `${s.id}:${s.state}`).sort()).toEqual(['sb-claimed:claimed', 'sb-warm:warm'])
    expect(await store.getSession('s-lost')).toMatchObject({ state: 'ended', endedReason: 'sandbox_lost', endedAt: 5000 })
    expect(await store.getSession('s-alive')).toMatchObject({ state: 'starting', endedReason: null })
    // Running it again finds nothing to do.
    const again = await reconcileOnStart({ driver, store, logger: pino({ level: 'silent' }), clock })
    expect({ ...again, kept: again.kept.sort() }).toEqual({ orphansDestroyed: [], recordsDeleted: [], sessionsEnded: [], kept: ['sb-claimed', 'sb-warm'] })
  })

  it('leaves records of pools run by another driver alone', async () => {
    store = new SqliteStore(':memory:')
    await store.upsertPool(poolSpecSchema.parse({ name: 'beta', driver: 'local' }), 1)
    await store.insertSandbox({ id: 'sb-local', pool: 'beta', createdAt: 1 })
    const report = await reconcileOnStart({ driver, store, logger: pino({ level: 'silent' }) })
    expect(report).toEqual({ orphansDestroyed: [], recordsDeleted: [], sessionsEnded: [], kept: [] })
    expect((await store.getSandbox('sb-local'))?.state).toBe('starting')
  })

  it("under a pool's lease: touches only that pool, and spares another replica's create under way", async () => {
    store = new SqliteStore(':memory:')
    const clock = new ManualClock(100_000)
    const make = async (id: string, pool: string) => driver.create({ ...spec(id), pool })
    // Another pool's orphan: not this lease's to remove.
    await make('sb-beta-orphan', 'beta')
    // This pool's old orphan (a starting record from long ago): removed.
    await store.insertSandbox({ id: 'sb-old', pool: 'alpha', createdAt: 1 })
    await make('sb-old', 'alpha')
    // Another replica's cold start, just begun (its record, no sandbox listed yet) and just ready.
    await store.insertSandbox({ id: 'sb-new', pool: 'alpha', createdAt: 99_000 })
    await store.insertSandbox({ id: 'sb-new-live', pool: 'alpha', createdAt: 99_500 })
    await make('sb-new-live', 'alpha')
    // A session just claimed on a sandbox whose record another replica wrote after the listing.
    await store.insertSandbox({ id: 'sb-just', pool: 'alpha', createdAt: 99_900 })
    await store.markSandboxWarm('sb-just', { ...(await make('sb-tmp', 'gamma')), id: 'sb-just', pool: 'alpha' }, 99_950)
    await store.claimSandbox('sb-just', { ...session('s-just'), createdAt: 99_960 }, 99_960)

    const report = await reconcileOnStart({ driver, store, logger: pino({ level: 'silent' }), clock, pool: 'alpha', spareRecentMs: 60_000 })

    expect(report.orphansDestroyed).toEqual(['sb-old'])
    expect(report.recordsDeleted).toEqual([])
    expect(report.sessionsEnded).toEqual([])
    expect((await driver.list()).map((h) => h.id).sort()).toEqual(['sb-beta-orphan', 'sb-new-live', 'sb-tmp'])
    expect((await store.listSandboxes()).map((s) => `${s.id}:${s.state}`).sort()).toEqual(['sb-just:claimed', 'sb-new-live:starting', 'sb-new:starting'])
    expect((await store.getSession('s-just'))?.state).toBe('starting')
    // Without the grace (one gateway alone, at start) the same records count as left over.
    const alone = await reconcileOnStart({ driver, store, logger: pino({ level: 'silent' }), clock, pool: 'alpha' })
    expect(alone.orphansDestroyed).toEqual(['sb-new-live'])
    expect(alone.recordsDeleted.sort()).toEqual(['sb-just', 'sb-new'])
    expect(alone.sessionsEnded).toEqual(['s-just'])
  })
})
