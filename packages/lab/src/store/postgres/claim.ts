import { StoreConflictError } from '../errors.ts'
import { newSessionRecord, toSandbox, type SandboxRow } from '../rows.ts'
import type { Claimed, NewSession } from '../types.ts'
import { checkAdmission } from './admission.ts'
import { SANDBOX_COLUMNS } from './columns.ts'
import { prepared, type Sql } from './db.ts'
import { appendLogs } from './logs.ts'

/** Finds and locks the sandbox a claim takes, inside the claim's transaction. */
export type Pick = (sql: Sql) => Promise<SandboxRow | undefined>

const OLDEST_WARM = prepared(`SELECT ${SANDBOX_COLUMNS} FROM sandboxes WHERE pool = $1 AND state = 'warm'
  ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`)
const WARM_BY_ID = prepared(`SELECT ${SANDBOX_COLUMNS} FROM sandboxes WHERE id = $1 AND pool = $2 AND state = 'warm' FOR UPDATE`)
/** The session, its labels and its token, and the sandbox bound to it: one statement. */
const WRITE_CLAIM = prepared(`WITH s AS (
    INSERT INTO sessions (id, "user", pool, sandbox_id, state, warm, created_at, env_names, network, credentials, key_id, labels, expires_at, idle_timeout_s)
    VALUES ($1, $2, $3, $4, 'starting', $5, $6, $7, $8, $9, $10, $11, $12, $13)),
  l AS (INSERT INTO session_labels (session_id, key, value) SELECT $1, key, value FROM jsonb_each_text($11::jsonb)),
  t AS (INSERT INTO attach_tokens (token_hash, session_id, expires_at) SELECT $15, $1, $16 WHERE $15::text IS NOT NULL
    ON CONFLICT (token_hash) DO UPDATE SET session_id = excluded.session_id, expires_at = excluded.expires_at),
  b AS (UPDATE sandboxes SET state = 'claimed', session_id = $1, claimed_at = $14 WHERE id = $4 AND state = 'warm' RETURNING id)
  SELECT COUNT(*) AS n FROM b`)

/**
 * The oldest warm sandbox of the pool, locked; one another claim holds is skipped, not waited
 * for: parallel claims (from any replica) each lock a different sandbox at once.
 */
export const pickOldestWarm = (pool: string): Pick => async (sql) => (await sql.query<SandboxRow>(OLDEST_WARM, [pool])).rows[0]

/**
 * A given warm sandbox (a cold start's own), locked. A claim that holds it is waited for: if that
 * one rolls back (a quota refused it), this one still gets the sandbox.
 */
export const pickWarmById = (id: string, pool: string): Pick => async (sql) => (await sql.query<SandboxRow>(WARM_BY_ID, [id, pool])).rows[0]

/**
 * One transaction body: pick and lock a warm sandbox, check the quotas, insert the session (its
 * labels and its token) and bind the sandbox to it in one statement (WRITE_CLAIM), then the audit entry and the
 * `session.created` event (logs.ts, which notifies other replicas at commit).
 */
export async function claimIn(sql: Sql, pick: Pick, s: NewSession, now: number, warm: boolean, writer: string): Promise<Claimed | undefined> {
  const picked = await pick(sql)
  if (!picked) return undefined
  await checkAdmission(sql, s, now, true) // throws: the transaction rolls back, the sandbox stays warm
  const labels = s.labels ?? {}
  const network = s.network === undefined ? null : JSON.stringify(s.network)
  const token = s.attachToken
  const { rows: [bound] } = await sql.query<{ n: number }>(WRITE_CLAIM, [
    s.id, s.user, s.pool, picked.id, warm, s.createdAt, JSON.stringify([...s.envNames]), network, s.sealedCredentials ?? null,
    s.keyId ?? null, JSON.stringify(labels), s.expiresAt ?? null, s.idleTimeoutS ?? null, now, token?.tokenHash ?? null, token?.expiresAt ?? null,
  ])
  // Cannot happen while the row is locked; a guard against a broken query.
  if (bound!.n !== 1) throw new StoreConflictError(`sandbox ${picked.id} stopped being warm during its claim`)
  await appendLogs(sql, {
    audit: { at: now, actor: s.actor ?? 'admin', keyId: s.keyId ?? null, action: 'session.create', target: s.id, details: { user: s.user, pool: s.pool, warm } },
    event: { at: now, type: 'session.created', pool: s.pool, user: s.user, sessionId: s.id, data: { warm, labels } },
  }, writer)
  // The records as written, built here rather than read back (the contract suite checks they
  // equal what getSession and getSandbox return).
  return {
    session: newSessionRecord(s, picked.id, warm, network),
    sandbox: toSandbox({ ...picked, state: 'claimed', session_id: s.id, claimed_at: now }),
  }
}
