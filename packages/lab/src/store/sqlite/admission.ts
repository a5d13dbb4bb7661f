import type Database from 'better-sqlite3'
import { bucketTokens, checkKeyQuota, checkUserQuota } from '../admission.ts'
import type { NewSession } from '../types.ts'

/** Open sessions of a user and of a key: each answered from its partial index (migration 5). */
export const OPEN_BY_USER_SQL = 'SELECT COUNT(*) AS n FROM sessions WHERE user = ? AND ended_at IS NULL'
export const OPEN_BY_KEY_SQL = 'SELECT COUNT(*) AS n FROM sessions WHERE key_id = ? AND ended_at IS NULL'

/**
 * A create's quotas, checked inside the claim's own transaction (BEGIN IMMEDIATE): the counts
 * and the token bucket are read and written under the write lock, so fifty parallel creates
 * against a limit of five admit exactly five, in this process or any other sharing the file.
 */
export class SqliteAdmission {
  private readonly q

  constructor(db: Database.Database) {
    this.q = {
      openByUser: db.prepare(OPEN_BY_USER_SQL),
      openByKey: db.prepare(OPEN_BY_KEY_SQL),
      bucket: db.prepare('SELECT tokens, updated_at FROM rate_buckets WHERE key_id = ?'),
      putBucket: db.prepare(`INSERT INTO rate_buckets (key_id, tokens, updated_at) VALUES (@key_id, @tokens, @now)
        ON CONFLICT (key_id) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at`),
    }
  }

  countOpen(by: { user?: string; keyId?: string }): number {
    if (by.user !== undefined) return (this.q.openByUser.get(by.user) as { n: number }).n
    if (by.keyId !== undefined) return (this.q.openByKey.get(by.keyId) as { n: number }).n
    throw new TypeError('countOpen needs a user or a keyId')
  }

  /** Throws QuotaRefused when the session may not be created now; `consume` takes its token. */
  check(s: NewSession, now: number, consume: boolean): void {
    const a = s.admission
    if (!a) return
    if (a.maxSessionsPerUser !== undefined) checkUserQuota(a, this.countOpen({ user: s.user }))
    if (s.keyId === undefined) return
    if (a.maxSessions !== undefined) checkKeyQuota(a, this.countOpen({ keyId: s.keyId }))
    if (a.createsPerMin === undefined) return
    const tokens = bucketTokens(a.createsPerMin, this.q.bucket.get(s.keyId) as { tokens: number; updated_at: number } | undefined, now)
    if (consume) this.q.putBucket.run({ key_id: s.keyId, tokens: tokens - 1, now })
  }
}
