import type { SessionRow } from '../rows.ts'
import type { SessionListFilter } from '../types.ts'
import { SESSION_COLUMNS } from './columns.ts'
import type { Sql } from './db.ts'
import { scopeConditions } from './scope-sql.ts'

/**
 * `listSessions` as one query built from the filter: newest first, keyset-paged on
 * (created_at, id), within a scoped key's view (scope-sql.ts), labels ANDed.
 */
export async function listSessionRows(sql: Sql, f: SessionListFilter): Promise<SessionRow[]> {
  const where: string[] = []
  const args: unknown[] = []
  const $ = (v: unknown) => `$${args.push(v)}`
  if (f.user !== undefined) where.push(`"user" = ${$(f.user)}`)
  if (f.state !== undefined) {
    where.push(`state = ${$(f.state)}`)
    // open sessions through their own partial index, newest first
    if (f.state !== 'ended') where.push('ended_at IS NULL')
  }
  if (f.pool !== undefined) where.push(`pool = ${$(f.pool)}`)
  for (const [k, v] of f.labels ?? []) {
    where.push(`EXISTS (SELECT 1 FROM session_labels l WHERE l.session_id = sessions.id AND l.key = ${$(k)} AND l.value = ${$(v)})`)
  }
  const scope = scopeConditions(f.scope, args)
  if (!scope) return []
  where.push(...scope)
  if (f.cursor) where.push(`(created_at, id) < (${$(f.cursor.createdAt)}::bigint, ${$(f.cursor.id)}::text)`)
  const { rows } = await sql.query<SessionRow>(`SELECT ${SESSION_COLUMNS} FROM sessions ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY created_at DESC, id DESC LIMIT ${$(f.limit ?? null)}`, args)
  return rows
}
