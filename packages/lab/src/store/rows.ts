import type { NetworkPolicy } from '../spec/network-policy.ts'
import type { SandboxHandle } from '../spec/sandbox-handle.ts'
import type { AttachTokenRecord, EndedReason, NewSession, SandboxRecord, SandboxState, SessionRecord, SessionState } from './types.ts'

/**
 * Rows as the SQL stores return them, and their mapping to the store's records: times are integers
 * (ms), JSON columns come as their text (the Postgres store reads jsonb as text too), so SQLite and
 * Postgres share these mappers.
 */
export interface SandboxRow {
  id: string
  pool: string
  state: SandboxState
  created_at: number
  ready_at: number | null
  claimed_at: number | null
  session_id: string | null
  handle: string | null
}

export interface SessionRow {
  id: string
  user: string
  pool: string
  sandbox_id: string | null
  state: SessionState
  /** SQLite: 0 or 1; Postgres: a boolean. */
  warm: number | boolean
  created_at: number
  ended_at: number | null
  ended_reason: EndedReason | null
  timings: string
  env_names: string
  network: string | null
  credentials: string | null
  key_id: string | null
  labels: string
  expires_at: number | null
  idle_timeout_s: number | null
  ended_by: string | null
}

export function toSandbox(r: SandboxRow): SandboxRecord {
  return {
    id: r.id,
    pool: r.pool,
    state: r.state,
    createdAt: r.created_at,
    readyAt: r.ready_at,
    claimedAt: r.claimed_at,
    sessionId: r.session_id,
    handle: r.handle === null ? null : (JSON.parse(r.handle) as SandboxHandle),
  }
}

export function toSession(r: SessionRow): SessionRecord {
  return {
    id: r.id,
    user: r.user,
    pool: r.pool,
    sandboxId: r.sandbox_id,
    state: r.state,
    warm: r.warm === 1 || r.warm === true,
    createdAt: r.created_at,
    endedAt: r.ended_at,
    endedReason: r.ended_reason,
    timings: JSON.parse(r.timings) as Record<string, number>,
    envNames: JSON.parse(r.env_names) as string[],
    network: r.network === null ? null : (JSON.parse(r.network) as NetworkPolicy),
    hasCredentials: r.credentials !== null,
    keyId: r.key_id,
    labels: JSON.parse(r.labels) as Record<string, string>,
    expiresAt: r.expires_at,
    idleTimeoutS: r.idle_timeout_s,
    endedBy: r.ended_by,
  }
}

/** The record a claim's insert makes of `s` (what `toSession` of the new row returns). */
export function newSessionRecord(s: NewSession, sandboxId: string, warm: boolean, networkJson: string | null): SessionRecord {
  return {
    id: s.id,
    user: s.user,
    pool: s.pool,
    sandboxId,
    state: 'starting',
    warm,
    createdAt: s.createdAt,
    endedAt: null,
    endedReason: null,
    timings: {},
    envNames: [...s.envNames],
    network: networkJson === null ? null : (JSON.parse(networkJson) as NetworkPolicy),
    hasCredentials: s.sealedCredentials !== undefined,
    keyId: s.keyId ?? null,
    labels: { ...s.labels },
    expiresAt: s.expiresAt ?? null,
    idleTimeoutS: s.idleTimeoutS ?? null,
    endedBy: null,
  }
}

/** A row of an attach token joined with its session (`s.*` and the token's two columns renamed). */
export type TokenSessionRow = SessionRow & { token_session_id: string; token_expires_at: number }

/** The token and its session of such a row; no session when the join found none. */
export function toTokenSession(tokenHash: string, row: TokenSessionRow): { token: AttachTokenRecord; session: SessionRecord | undefined } {
  const { token_session_id: sessionId, token_expires_at: expiresAt, ...session } = row
  return { token: { tokenHash, sessionId, expiresAt }, session: (session.id as string | null) === null ? undefined : toSession(session) }
}
