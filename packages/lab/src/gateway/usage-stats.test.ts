import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SandboxHandle } from '../spec/sandbox-handle.ts'
import { SqliteStore } from '../store/sqlite/sqlite-store.ts'
import { ENDED_REASONS, type KeyRecord, type NewKey } from '../store/types.ts'
import { ADMIN, type Principal } from './principal.ts'
import { ENDED_BUCKET_MS, endedReasonStats, MAX_KEYS_SHOWN, quotaStats } from './usage-stats.ts'

// The quotas and ended-reasons panels of GET /v1/stats at chosen instants: times are arguments
// here, so the rules on the minute window and the hourly buckets are checked to the millisecond.
const NOW = Date.UTC(2026, 11, 1, 10, 30) // 10:30 UTC
const HOUR = ENDED_BUCKET_MS

describe('quotas and ended reasons for the dashboard', () => {
  let store: SqliteStore
  let n = 0
  beforeEach(() => {
    store = new SqliteStore(':memory:')
  })
  afterEach(async () => {
    await store.close()
  })

  const key = async (name: string, k: Partial<NewKey> = {}): Promise<KeyRecord> => {
    const rec: NewKey = {
      id: `key-${name}`, name, secretHash: `hash-${name}`, users: null, pools: null, maxSessions: null, createsPerMin: null, expiresAt: null, createdAt: 0, ...k,
    }
    await store.insertKey(rec)
    return (await store.getKey(rec.id))!
  }
  const scoped = (k: KeyRecord): Principal => ({ kind: 'scoped', name: k.name, keyId: k.id, key: k })
  /** A session of `user` claimed at `at` (by `keyId`), ended at `endedAt` with `reason` if given. */
  const session = async (user: string, at: number, o: { keyId?: string; pool?: string; endedAt?: number; reason?: (typeof ENDED_REASONS)[number] } = {}) => {
    const id = `s-${++n}`
    const pool = o.pool ?? 'alpha'
    const handle: SandboxHandle = { id: `sb-${id}`, pool, driver: 'fake', createdAt: at, address: { kind: 'unix', path: '/x' }, meta: {} }
    await store.insertSandbox({ id: handle.id, pool, createdAt: at })
    await store.markSandboxWarm(handle.id, handle, at)
    await store.claimWarm(pool, { id, user, pool, createdAt: at, envNames: [], ...(o.keyId ? { keyId: o.keyId } : {}) }, at)
    if (o.endedAt !== undefined) await store.endSession(id, o.reason ?? 'exited', o.endedAt)
    return id
  }

  it("counts a key's creates of the last 60 s, the first instant of the window in and the one before out", async () => {
    const k = await key('ci', { maxSessions: 5, createsPerMin: 3 })
    await session('ada', NOW - 60_001, { keyId: k.id })
    await session('ada', NOW - 60_000, { keyId: k.id })
    await session('bob', NOW, { keyId: k.id, endedAt: NOW, reason: 'terminated' })
    const q = await quotaStats(store, scoped(k), NOW, 10)
    expect(q).toEqual({
      maxSessionsPerUser: 10,
      keys: [{ id: k.id, name: 'ci', openSessions: 2, maxSessions: 5, createsPerMin: 3, createsLastMin: 2 }],
      users: [{ user: 'ada', openSessions: 2 }],
    })
  })

  it('shows the admin every key in force, most open sessions first, at most 50; a scoped key only itself and its users', async () => {
    const busy = await key('busy', { users: ['team-a-*'] })
    await key('idle')
    await key('revoked')
    await store.revokeKey('key-revoked', 1)
    await key('expired', { expiresAt: NOW })
    await session('team-a-1', NOW - 5, { keyId: busy.id })
    await session('team-a-1', NOW - 4, { keyId: busy.id })
    await session('carol', NOW - 3)
    const admin = await quotaStats(store, ADMIN, NOW, 4)
    expect(admin.keys.map((k) => [k.name, k.openSessions])).toEqual([['busy', 2], ['idle', 0]])
    expect(admin.keys[1]).not.toHaveProperty('maxSessions')
    expect(admin.users).toEqual([{ user: 'team-a-1', openSessions: 2 }, { user: 'carol', openSessions: 1 }])
    const own = await quotaStats(store, scoped(busy), NOW, 4)
    expect(own.keys.map((k) => k.name)).toEqual(['busy'])
    expect(own.users).toEqual([{ user: 'team-a-1', openSessions: 2 }])

    for (let i = 0; i < MAX_KEYS_SHOWN + 5; i++) await key(`many-${String(i).padStart(2, '0')}`)
    expect((await quotaStats(store, ADMIN, NOW, 4)).keys).toHaveLength(MAX_KEYS_SHOWN)
  })

  it('counts ends per reason in the 24 hourly buckets up to the current hour, every reason present', async () => {
    const first = Date.UTC(2026, 10, 30, 11) // 23 hours before the current hour, 10:00
    await session('ada', 0, { endedAt: first - 1, reason: 'exited' }) // before the first bucket
    await session('ada', 0, { endedAt: first, reason: 'exited' })
    await session('ada', 0, { endedAt: NOW - 30 * 60_000, reason: 'idle_timeout' }) // 10:00, the current hour
    await session('bob', 0, { endedAt: NOW, reason: 'idle_timeout', pool: 'beta' })
    await session('bob', 0, { endedAt: NOW - HOUR, reason: 'max_lifetime' })
    await session('bob', 0) // not ended
    const r = await endedReasonStats(store, ADMIN, NOW)
    expect(r.bucketMs).toBe(HOUR)
    expect(r.t).toHaveLength(24)
    expect([r.t[0], r.t[23]]).toEqual([first, Date.UTC(2026, 11, 1, 10)])
    expect(Object.keys(r.counts).sort()).toEqual([...ENDED_REASONS].sort())
    for (const c of Object.values(r.counts)) expect(c).toHaveLength(24)
    expect(r.counts.exited.reduce((a, b) => a + b)).toBe(1)
    expect(r.counts.exited[0]).toBe(1)
    expect(r.counts.idle_timeout[23]).toBe(2)
    expect(r.counts.max_lifetime[22]).toBe(1)

    const pools = await endedReasonStats(store, scoped(await key('alpha-only', { pools: ['alpha'] })), NOW)
    expect(pools.counts.idle_timeout[23]).toBe(1)
    const nobody = await endedReasonStats(store, scoped(await key('carol-only', { users: ['carol'] })), NOW)
    expect(Object.values(nobody.counts).flat().every((c) => c === 0)).toBe(true)
  })
})
