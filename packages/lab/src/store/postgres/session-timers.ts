import type { SessionTimers } from '../types.ts'
import { prepared, type Sql } from './db.ts'

// Ids are compared as "C" text, as the column is.
const RECORD_ACTIVITY = prepared(`UPDATE sessions s SET last_active_at = v.at
  FROM unnest($1::text[], $2::bigint[]) AS v (id, at)
  WHERE s.id = v.id COLLATE "C" AND s.state <> 'ended' AND (s.last_active_at IS NULL OR s.last_active_at < v.at)`)
const GET_TIMERS = prepared(`SELECT id, expires_at, last_active_at, warned_for FROM sessions
  WHERE id = ANY($1::text[]) AND state <> 'ended'`)
const MARK_WARNED = prepared(`UPDATE sessions SET warned_for = $2
  WHERE id = $1 AND state <> 'ended' AND warned_for IS DISTINCT FROM $2`)

/** Sessions' shared timers (Store.recordSessionActivity, getSessionTimers, markSessionWarned). */
export async function recordActivity(sql: Sql, activity: readonly { readonly id: string; readonly at: number }[]): Promise<void> {
  if (activity.length === 0) return
  await sql.query(RECORD_ACTIVITY, [activity.map((a) => a.id), activity.map((a) => a.at)])
}

export async function getTimers(sql: Sql, ids: readonly string[]): Promise<SessionTimers[]> {
  if (ids.length === 0) return []
  const { rows } = await sql.query<{ id: string; expires_at: number | null; last_active_at: number | null; warned_for: number | null }>(GET_TIMERS, [ids])
  return rows.map((r) => ({ id: r.id, expiresAt: r.expires_at, lastActiveAt: r.last_active_at, warnedFor: r.warned_for }))
}

export async function markWarned(sql: Sql, id: string, deadline: number): Promise<boolean> {
  return (await sql.query(MARK_WARNED, [id, deadline])).rowCount === 1
}
