import type Database from 'better-sqlite3'
import type { SessionListFilter } from '../types.ts'
import type { SessionRow } from '../rows.ts'
import { scopeConditions } from './scope-sql.ts'

/**
 * `listSessions` as one query built from the filter: newest first, keyset-paged on
 * (created_at, id), within a scoped key's view (scope-sql.ts), labels ANDed.
 */
export function listSessionRows(db: Database.Database, f: SessionListFilter): SessionRow[] {
  const where: string[] = []
  const args: unknown[] = []
  if (f.user !== undefined) { where.push('user = ?'); args.push(f.user) }
  if (f.state !== undefined) {
    where.push('state = ?')
    args.push(f.state)
    // open sessions through their own partial index (migration 5), newest first
    if (f.state !== 'ended') where.push('ended_at IS NULL')
  }
  if (f.pool !== undefined) { where.push('pool = ?'); args.push(f.pool) }
  for (const [k, v] of f.labels ?? []) {
    where.push('EXISTS (SELECT 1 FROM session_labels l WHERE l.session_id = sessions.id AND l.key = ? AND l.value = ?)')
    args.push(k, v)
  }
  const scope = scopeConditions(f.scope)
  if (!scope) return []
  where.push(...scope.where)
  args.push(...scope.args)
  if (f.cursor) {
    where.push('(created_at < ? OR (created_at = ? AND id < ?))')
    args.push(f.cursor.createdAt, f.cursor.createdAt, f.cursor.id)
  }
  const sql = `SELECT * FROM sessions ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY created_at DESC, id DESC LIMIT ?`
  args.push(f.limit ?? -1) // SQLite: a negative limit is none
  return db.prepare(sql).all(...args) as SessionRow[]
}
