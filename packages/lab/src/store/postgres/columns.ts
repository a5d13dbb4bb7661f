/**
 * The columns the store reads, named rather than `SELECT *`: a prepared statement whose result
 * would gain a column fails ("cached plan must not change result type"), and during a rolling
 * upgrade a newer replica's migration may add columns under this one's prepared statements.
 */
export const SANDBOX_COLUMNS = 'id, pool, state, created_at, ready_at, claimed_at, session_id, handle'
export const SESSION_COLUMNS = `id, "user", pool, sandbox_id, state, warm, created_at, ended_at, ended_reason, timings, env_names, network,
  credentials, key_id, labels, expires_at, idle_timeout_s, ended_by`
export const KEY_COLUMNS = 'id, name, secret_hash, users, pools, max_sessions, creates_per_min, expires_at, created_at, revoked_at, rotated_at'

/** `columns` (one of the lists above) each prefixed with a table alias, for a join. */
export const qualified = (columns: string, alias: string): string => columns.split(',').map((c) => `${alias}.${c.trim()}`).join(', ')
