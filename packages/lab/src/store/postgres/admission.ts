import { bucketTokens, checkKeyQuota, checkUserQuota } from '../admission.ts'
import type { NewSession } from '../types.ts'
import { prepared, type Sql } from './db.ts'

const COUNTS = prepared(`SELECT
  (SELECT COUNT(*) FROM sessions WHERE "user" = $1 AND ended_at IS NULL) AS by_user,
  (SELECT COUNT(*) FROM sessions WHERE key_id = $2 AND ended_at IS NULL) AS by_key,
  b.tokens, b.updated_at
  FROM (SELECT 1) one LEFT JOIN rate_buckets b ON b.key_id = $2`)

/**
 * Whether a create would be admitted now, without taking anything (the cold path asks before it
 * starts a sandbox). The claim itself checks again and consumes, exactly, inside its own
 * statement (claim-function.ts).
 */
export async function checkAdmission(sql: Sql, s: NewSession, now: number): Promise<void> {
  const a = s.admission
  if (!a) return
  const byUser = a.maxSessionsPerUser !== undefined
  const key = s.keyId !== undefined && (a.maxSessions !== undefined || a.createsPerMin !== undefined) ? s.keyId : undefined
  if (!byUser && key === undefined) return
  const { rows: [r] } = await sql.query<{ by_user: number; by_key: number; tokens: number | null; updated_at: number | null }>(COUNTS, [s.user, key ?? null])
  checkUserQuota(a, r!.by_user)
  if (key === undefined) return
  checkKeyQuota(a, r!.by_key)
  if (a.createsPerMin !== undefined) bucketTokens(a.createsPerMin, r!.tokens === null ? undefined : { tokens: r!.tokens, updated_at: r!.updated_at! }, now)
}

/** Sessions not ended, by user or by key (each from its partial index). */
export async function countOpen(sql: Sql, by: { user?: string; keyId?: string }): Promise<number> {
  if (by.user !== undefined) return (await sql.query<{ n: number }>('SELECT COUNT(*) AS n FROM sessions WHERE "user" = $1 AND ended_at IS NULL', [by.user])).rows[0]!.n
  if (by.keyId !== undefined) return (await sql.query<{ n: number }>('SELECT COUNT(*) AS n FROM sessions WHERE key_id = $1 AND ended_at IS NULL', [by.keyId])).rows[0]!.n
  throw new TypeError('countOpen needs a user or a keyId')
}
