import { beforeEach, describe, expect, it } from 'vitest'
import type { SandboxHandle } from '../spec/sandbox-handle.ts'
import type { Store } from './types.ts'

const handle = (id: string, pool: string): SandboxHandle => ({
  id, pool, driver: 'fake', createdAt: 1, address: { kind: 'unix', path: `/tmp/${id}.sock` }, meta: {}, startMs: 1,
})

/** Claims a fresh warm sandbox for a session of `user` in `pool`, created at `at` (by `keyId`, if given). */
async function open(store: Store, id: string, o: { user: string; pool?: string; keyId?: string; at: number }): Promise<void> {
  const pool = o.pool ?? 'alpha'
  await store.insertSandbox({ id: `sb-${id}`, pool, createdAt: o.at })
  await store.markSandboxWarm(`sb-${id}`, handle(`sb-${id}`, pool), o.at)
  const claimed = await store.claimWarm(pool, { id, user: o.user, pool, createdAt: o.at, envNames: [], ...(o.keyId ? { keyId: o.keyId } : {}) }, o.at)
  if (!claimed) throw new Error(`no claim for ${id}`)
}

/** The dashboard's counts (keyUsage, topOpenUsers, endedByReason): part of the store contract. */
export function describeUsageContract(store: () => Store): void {
  describe('usage counts', () => {
    it('counts, per key, its sessions not ended and those created since a time; sessions of the admin key are no key\'s', async () => {
      const s = store()
      await open(s, 'a1', { user: 'ada', keyId: 'key-a', at: 1_000 })
      await open(s, 'a2', { user: 'ada', keyId: 'key-a', at: 61_000 })
      await open(s, 'a3', { user: 'bob', keyId: 'key-a', at: 62_000 })
      await s.endSession('a3', 'exited', 63_000)
      await open(s, 'b1', { user: 'bob', keyId: 'key-b', at: 2_000 })
      await s.endSession('b1', 'terminated', 3_000)
      await open(s, 'admin1', { user: 'ada', at: 70_000 })
      expect(await s.keyUsage(60_000)).toEqual([{ keyId: 'key-a', openSessions: 2, createdSince: 2 }])
      expect(await s.keyUsage(0)).toEqual([
        { keyId: 'key-a', openSessions: 2, createdSince: 3 },
        { keyId: 'key-b', openSessions: 0, createdSince: 1 },
      ])
      expect(await s.keyUsage(62_000)).toEqual([{ keyId: 'key-a', openSessions: 2, createdSince: 1 }])
    })

    it('names the users with the most sessions not ended, most first then by name, at most `limit`, within a scope', async () => {
      const s = store()
      await open(s, 'x1', { user: 'team-a-1', at: 1 })
      await open(s, 'x2', { user: 'team-a-1', at: 2 })
      await open(s, 'x3', { user: 'team-a-2', at: 3, pool: 'beta' })
      await open(s, 'x4', { user: 'carol', at: 4 })
      await open(s, 'x5', { user: 'carol', at: 5 })
      await open(s, 'x6', { user: 'carol', at: 6 })
      await s.endSession('x6', 'exited', 7)
      await open(s, 'x7', { user: 'bob', at: 8 })
      expect(await s.topOpenUsers(10)).toEqual([
        { user: 'carol', openSessions: 2 }, { user: 'team-a-1', openSessions: 2 }, { user: 'bob', openSessions: 1 }, { user: 'team-a-2', openSessions: 1 },
      ])
      expect(await s.topOpenUsers(1)).toEqual([{ user: 'carol', openSessions: 2 }])
      expect(await s.topOpenUsers(10, { users: ['team-a-*'], pools: null })).toEqual([{ user: 'team-a-1', openSessions: 2 }, { user: 'team-a-2', openSessions: 1 }])
      expect(await s.topOpenUsers(10, { users: ['team-a-*'], pools: ['beta'] })).toEqual([{ user: 'team-a-2', openSessions: 1 }])
      expect(await s.topOpenUsers(10, { users: [], pools: null })).toEqual([])
    })

    describe('ended sessions by reason over time', () => {
      beforeEach(async () => {
        const s = store()
        const ends: [string, string, 'exited' | 'idle_timeout' | 'terminated', number, string?][] = [
          ['e0', 'ada', 'exited', 999], // before the window
          ['e1', 'ada', 'exited', 1_000], // its first instant
          ['e2', 'bob', 'exited', 1_999],
          ['e3', 'bob', 'idle_timeout', 1_500, 'beta'],
          ['e4', 'ada', 'terminated', 3_999], // the last bucket's last instant
          ['e5', 'ada', 'exited', 4_000], // after the window
        ]
        for (const [id, user, reason, at, pool] of ends) {
          await open(s, id, { user, at: 0, ...(pool ? { pool } : {}) })
          await s.endSession(id, reason, at)
        }
        await open(s, 'still-open', { user: 'ada', at: 2_000 })
      })

      it('counts each bucket and reason of the window, and nothing outside it or not ended', async () => {
        expect(await store().endedByReason({ since: 1_000, bucketMs: 1_000, buckets: 3 })).toEqual([
          { bucket: 0, reason: 'exited', count: 2 },
          { bucket: 0, reason: 'idle_timeout', count: 1 },
          { bucket: 2, reason: 'terminated', count: 1 },
        ])
      })

      it("counts only a scope's users and pools", async () => {
        const f = { since: 1_000, bucketMs: 1_000, buckets: 3 }
        expect(await store().endedByReason({ ...f, scope: { users: ['ada'], pools: null } })).toEqual([
          { bucket: 0, reason: 'exited', count: 1 }, { bucket: 2, reason: 'terminated', count: 1 },
        ])
        expect(await store().endedByReason({ ...f, scope: { users: null, pools: ['beta'] } })).toEqual([{ bucket: 0, reason: 'idle_timeout', count: 1 }])
        expect(await store().endedByReason({ ...f, scope: { users: null, pools: [] } })).toEqual([])
      })
    })
  })
}
