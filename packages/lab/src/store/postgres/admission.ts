import { bucketTokens, checkKeyQuota, checkUserQuota } from '../admission.ts'
import type { NewSession } from '../types.ts'
import { prepared, type Sql } from './db.ts'

/** Namespaces of the transaction advisory locks that serialize one user's, or one key's, creates. */
const USER_LOCK = 1
const KEY_LOCK = 2

const COUNTS = prepared(`SELECT
  (SELECT COUNT(*) FROM sessions WHERE "user" = $1 AND ended_at IS NULL) AS by_user,
  (SELECT COUNT(*) FROM sessions WHERE key_id = $2 AND ended_at IS NULL) AS by_key,
  b.tokens, b.updated_at
  FROM (SELECT 1) one LEFT JOIN rate_buckets b ON b.key_id = $2`)
const PUT_BUCKET = prepared(`INSERT INTO rate_buckets (key_id, tokens, updated_at) VALUES ($1, $2, $3)
  ON CONFLICT (key_id) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at`)

/**
 * A create's quotas, checked inside the claim's transaction. Postgres runs claims in parallel
 * (READ COMMITTED), so a claim first takes a transaction advisory lock on its user and one on its
 * key, always in that order, and only then counts, in a later statement whose snapshot sees what
 * the previous holder committed: fifty parallel creates against a limit of five admit exactly
 * five, from every replica. Creates of different users and keys do not wait for each other.
 */
export async function checkAdmission(sql: Sql, s: NewSession, now: number, consume: boolean): Promise<void> {
  const a = s.admission
  if (!a) return
  const byUser = a.maxSessionsPerUser !== undefined
  const key = s.keyId !== undefined && (a.maxSessions !== undefined || a.createsPerMin !== undefined) ? s.keyId : undefined
  if (!byUser && key === undefined) return
  if (consume) {
    const args: string[] = []
    const locks: string[] = []
    if (byUser) locks.push(`pg_advisory_xact_lock(${USER_LOCK}, hashtext($${args.push(s.user)}))`)
    if (key !== undefined) locks.push(`pg_advisory_xact_lock(${KEY_LOCK}, hashtext($${args.push(key)}))`)
    await sql.query(prepared(`SELECT ${locks.join(', ')}`), args)
  }
  const { rows: [r] } = await sql.query<{ by_user: number; by_key: number; tokens: number | null; updated_at: number | null }>(COUNTS, [s.user, key ?? null])
  checkUserQuota(a, r!.by_user)
  if (key === undefined) return
  checkKeyQuota(a, r!.by_key)
  if (a.createsPerMin === undefined) return
  const tokens = bucketTokens(a.createsPerMin, r!.tokens === null ? undefined : { tokens: r!.tokens, updated_at: r!.updated_at! }, now)
  if (consume) {
    await sql.query(PUT_BUCKET, [key, tokens - 1, now])
  }
}

/** Sessions not ended, by user or by key (each from its partial index). */
export async function countOpen(sql: Sql, by: { user?: string; keyId?: string }): Promise<number> {
  if (by.user !== undefined) return (await sql.query<{ n: number }>('SELECT COUNT(*) AS n FROM sessions WHERE "user" = $1 AND ended_at IS NULL', [by.user])).rows[0]!.n
  if (by.keyId !== undefined) return (await sql.query<{ n: number }>('SELECT COUNT(*) AS n FROM sessions WHERE key_id = $1 AND ended_at IS NULL', [by.keyId])).rows[0]!.n
  throw new TypeError('countOpen needs a user or a keyId')
}
