import type { KeyScope } from '../../spec/key-scope.ts'
import type { EndedCount, EndedReason, KeyUsage, UserUsage } from '../types.ts'
import type { Sql } from './db.ts'
import { scopeConditions } from './scope-sql.ts'

/**
 * What the dashboard's quotas and ended-reasons panels read: counts grouped in SQL, each answered
 * from the sessions' partial indexes (open sessions, recent creates, ends), as in SQLite.
 */
export class PgUsage {
  constructor(private readonly sql: Sql) {}

  async keyUsage(since: number): Promise<KeyUsage[]> {
    const usage = new Map<string, { openSessions: number; createdSince: number }>()
    const of = (id: string) => usage.get(id) ?? usage.set(id, { openSessions: 0, createdSince: 0 }).get(id)!
    const open = await this.sql.query<{ key_id: string; n: number }>(
      'SELECT key_id, COUNT(*) AS n FROM sessions WHERE ended_at IS NULL AND key_id IS NOT NULL GROUP BY key_id')
    for (const r of open.rows) of(r.key_id).openSessions = r.n
    const created = await this.sql.query<{ key_id: string; n: number }>(
      'SELECT key_id, COUNT(*) AS n FROM sessions WHERE created_at >= $1 AND key_id IS NOT NULL GROUP BY key_id', [since])
    for (const r of created.rows) of(r.key_id).createdSince = r.n
    return [...usage].map(([keyId, u]) => ({ keyId, ...u })).sort((a, b) => (a.keyId < b.keyId ? -1 : 1))
  }

  async topOpenUsers(limit: number, scope?: KeyScope): Promise<UserUsage[]> {
    const args: unknown[] = []
    const s = scopeConditions(scope, args)
    if (!s) return []
    const { rows } = await this.sql.query<{ user: string; n: number }>(`SELECT "user", COUNT(*) AS n FROM sessions WHERE ended_at IS NULL ${and(s)}
      GROUP BY "user" ORDER BY n DESC, "user" LIMIT $${args.push(limit)}`, args)
    return rows.map((r) => ({ user: r.user, openSessions: r.n }))
  }

  async endedByReason(f: { since: number; bucketMs: number; buckets: number; scope?: KeyScope }): Promise<EndedCount[]> {
    const args: unknown[] = [f.since, f.bucketMs, f.since + f.bucketMs * f.buckets]
    const s = scopeConditions(f.scope, args)
    if (!s) return []
    const { rows } = await this.sql.query<{ bucket: number; reason: EndedReason; n: number }>(
      `SELECT (ended_at - $1::bigint) / $2::bigint AS bucket, ended_reason AS reason, COUNT(*) AS n FROM sessions
      WHERE ended_at >= $1 AND ended_at < $3 ${and(s)}
      GROUP BY bucket, reason ORDER BY bucket, reason`, args)
    return rows.map((r) => ({ bucket: r.bucket, reason: r.reason, count: r.n }))
  }
}

function and(conditions: readonly string[]): string {
  return conditions.map((c) => `AND ${c}`).join(' ')
}
