import { bucketTokens, checkKeyQuota, checkUserQuota } from '../admission.ts'
import { StoreConflictError } from '../errors.ts'
import { newSessionRecord, toSandbox, type SandboxRow } from '../rows.ts'
import type { Claimed, NewSession } from '../types.ts'
import { prepared, type Sql } from './db.ts'
import { EVENTS_CHANNEL } from './listener.ts'

/** lab_claim_v1 (claim-function.ts, migration 3): the whole claim in one statement. */
const CLAIM = prepared(`SELECT o_outcome AS outcome, o_id AS id, o_pool AS pool, o_state AS state, o_created_at AS created_at,
  o_ready_at AS ready_at, o_claimed_at AS claimed_at, o_session_id AS session_id, o_handle AS handle,
  o_by_user AS by_user, o_by_key AS by_key, o_tokens AS tokens, o_bucket_at AS bucket_at
  FROM lab_claim_v1($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)`)

type ClaimRow = { outcome: 'claimed' | 'none' | 'refused'; by_user: number; by_key: number; tokens: number | null; bucket_at: number | null } & SandboxRow

/**
 * Claims a warm sandbox for `s` in one statement: the pool's oldest (`sandboxId` undefined; one
 * another claim holds is skipped, so parallel claims from any replica each take a different
 * one), or the given one (a cold start's own; a claim holding it is waited for). Undefined when
 * there is none; a quota refusal throws QuotaRefused and writes nothing. The statement commits
 * by itself (it is its own transaction), and its event notifies the other replicas at commit.
 */
export async function claimOne(sql: Sql, sandboxId: string | undefined, s: NewSession, now: number, warm: boolean, writer: string): Promise<Claimed | undefined> {
  const a = s.admission
  const byUser = a?.maxSessionsPerUser
  const quotaKey = s.keyId !== undefined && (a?.maxSessions !== undefined || a?.createsPerMin !== undefined) ? s.keyId : undefined
  const labels = s.labels ?? {}
  const network = s.network === undefined ? null : JSON.stringify(s.network)
  const token = s.attachToken
  const { rows: [r] } = await sql.query<ClaimRow>(CLAIM, [
    s.pool, sandboxId ?? null,
    s.id, s.user, warm, s.createdAt, JSON.stringify([...s.envNames]), network,
    s.sealedCredentials ?? null, s.keyId ?? null, JSON.stringify(labels), s.expiresAt ?? null, s.idleTimeoutS ?? null, now,
    token?.tokenHash ?? null, token?.expiresAt ?? null,
    byUser ?? null, quotaKey ?? null, quotaKey !== undefined ? a?.maxSessions ?? null : null, quotaKey !== undefined ? a?.createsPerMin ?? null : null,
    s.actor ?? 'admin', JSON.stringify({ user: s.user, pool: s.pool, warm }), JSON.stringify({ warm, labels }), EVENTS_CHANNEL, writer,
  ])
  if (!r || r.outcome === 'none') return undefined
  if (r.outcome === 'refused') {
    // The function decided on these counts with admission.ts's arithmetic in SQL; the same
    // checks here throw the refusal the caller answers with.
    checkUserQuota(a!, r.by_user)
    if (quotaKey !== undefined) {
      checkKeyQuota(a!, r.by_key)
      if (a!.createsPerMin !== undefined) bucketTokens(a!.createsPerMin, r.bucket_at === null ? undefined : { tokens: r.tokens!, updated_at: r.bucket_at }, now)
    }
    throw new StoreConflictError(`the claim function refused session ${s.id}, and admission.ts would admit it on the same counts`)
  }
  // The records as written, built here rather than read back (the contract suite checks they
  // equal what getSession and getSandbox return).
  return {
    session: newSessionRecord(s, r.id, warm, network),
    sandbox: toSandbox({ id: r.id, pool: r.pool, state: 'claimed', created_at: r.created_at, ready_at: r.ready_at, claimed_at: now, session_id: s.id, handle: r.handle }),
  }
}
