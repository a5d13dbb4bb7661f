import type Database from 'better-sqlite3'
import type { KeyScope } from '../../spec/key-scope.ts'
import type { EndedCount, EndedReason, KeyUsage, UserUsage } from '../types.ts'
import { scopeConditions } from './scope-sql.ts'

/**
 * What the dashboard's quotas and ended-reasons panels read: counts grouped in SQL, each query
 * answered from an index (the open-session partial indexes, `sessions_newest` for recent
 * creates, `sessions_ended_at` for ends), so their cost follows the rows they count, not the
 * table's size. Statements are prepared per call (a scope changes their text, and a dashboard
 * asks every few seconds), which also lets a test read every plan.
 */
export class SqliteUsage {
  constructor(private readonly db: Database.Database) {}

  keyUsage(since: number): KeyUsage[] {
    const usage = new Map<string, { openSessions: number; createdSince: number }>()
    const of = (id: string) => usage.get(id) ?? usage.set(id, { openSessions: 0, createdSince: 0 }).get(id)!
    const open = this.all<{ key_id: string; n: number }>(`SELECT key_id, COUNT(*) AS n FROM sessions WHERE ended_at IS NULL AND key_id IS NOT NULL GROUP BY key_id`)
    for (const r of open) of(r.key_id).openSessions = r.n
    const created = this.all<{ key_id: string; n: number }>(`SELECT key_id, COUNT(*) AS n FROM sessions WHERE created_at >= ? AND key_id IS NOT NULL GROUP BY key_id`, since)
    for (const r of created) of(r.key_id).createdSince = r.n
    return [...usage].map(([keyId, u]) => ({ keyId, ...u })).sort((a, b) => (a.keyId < b.keyId ? -1 : 1))
  }

  topOpenUsers(limit: number, scope?: KeyScope): UserUsage[] {
    const s = scopeConditions(scope)
    if (!s) return []
    const rows = this.all<{ user: string; n: number }>(`SELECT user, COUNT(*) AS n FROM sessions WHERE ended_at IS NULL ${and(s.where)}
      GROUP BY user ORDER BY n DESC, user LIMIT ?`, ...s.args, limit)
    return rows.map((r) => ({ user: r.user, openSessions: r.n }))
  }

  endedByReason(f: { since: number; bucketMs: number; buckets: number; scope?: KeyScope }): EndedCount[] {
    const s = scopeConditions(f.scope)
    if (!s) return []
    // better-sqlite3 binds a JS number as REAL: the bucket's division is made an integer one. The
    // index is named: without statistics SQLite could pick another index and scan every session kept.
    const rows = this.all<{ bucket: number; reason: EndedReason; n: number }>(
      `SELECT CAST((ended_at - ?) / ? AS INTEGER) AS bucket, ended_reason AS reason, COUNT(*) AS n FROM sessions INDEXED BY sessions_ended_at
      WHERE ended_at >= ? AND ended_at < ? ${and(s.where)}
      GROUP BY bucket, reason ORDER BY bucket, reason`,
      f.since, f.bucketMs, f.since, f.since + f.bucketMs * f.buckets, ...s.args,
    )
    return rows.map((r) => ({ bucket: r.bucket, reason: r.reason, count: r.n }))
  }

  private all<T>(sql: string, ...args: unknown[]): T[] {
    return this.db.prepare(sql).all(...args) as T[]
  }
}

function and(conditions: readonly string[]): string {
  return conditions.map((c) => `AND ${c}`).join(' ')
}
