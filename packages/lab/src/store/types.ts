import type { NetworkPolicy } from '../spec/network-policy.ts'
import type { SandboxHandle } from '../spec/sandbox-handle.ts'
import type { PoolSpec } from '../spec/pool-spec.ts'

export type SandboxState = 'starting' | 'warm' | 'claimed' | 'destroying'
export type SessionState = 'starting' | 'running' | 'ended'

/** Why a session ended: a closed set (metric label, API field). */
export const ENDED_REASONS = [
  'exited', // the shell exited
  'terminated', // DELETE /v1/sessions/{id} or `infra-lab sessions kill`
  'idle_timeout',
  'max_lifetime',
  'sandbox_lost', // the sandbox died or was killed from outside
  'spot_interruption', // the sandbox's capacity was reclaimed (an ECS task stopped by a Spot interruption)
  'claim_failed', // binding the workspace or the agent's claim failed
  'gateway_teardown',
] as const
export type EndedReason = (typeof ENDED_REASONS)[number]

export interface SandboxRecord {
  readonly id: string
  readonly pool: string
  readonly state: SandboxState
  readonly createdAt: number
  readonly readyAt: number | null
  readonly claimedAt: number | null
  readonly sessionId: string | null
  /** Set once the driver's create returned. */
  readonly handle: SandboxHandle | null
}

export interface SessionRecord {
  readonly id: string
  readonly user: string
  readonly pool: string
  readonly sandboxId: string | null
  readonly state: SessionState
  readonly warm: boolean
  readonly createdAt: number
  readonly endedAt: number | null
  readonly endedReason: EndedReason | null
  /** Milliseconds per step of the claim path. */
  readonly timings: Readonly<Record<string, number>>
  /** Names (never values) of the env vars and secrets the session was given. */
  readonly envNames: readonly string[]
  /** The session's network policy (null: the pool has no network). */
  readonly network: NetworkPolicy | null
  /** Whether credentials are kept for it (their values only sealed, read by getSessionCredentials). */
  readonly hasCredentials: boolean
}

export interface NewSession {
  readonly id: string
  readonly user: string
  readonly pool: string
  readonly createdAt: number
  readonly envNames: readonly string[]
  readonly network?: NetworkPolicy
  /** Injected credentials, sealed by the caller (egress/sealed.ts): the store never sees a value. */
  readonly sealedCredentials?: string
  /**
   * The session's first attach token, stored by the claim in its own transaction: the claim path
   * then commits once. A claim that gets no sandbox stores no token.
   */
  readonly attachToken?: Omit<AttachTokenRecord, 'sessionId'>
}

export interface Claimed {
  readonly session: SessionRecord
  readonly sandbox: SandboxRecord
}

export interface PoolCounts {
  readonly starting: number
  readonly warm: number
  readonly claimed: number
  readonly destroying: number
}

export interface AttachTokenRecord {
  /** sha256 of the token, hex: the token itself is never stored. */
  readonly tokenHash: string
  readonly sessionId: string
  readonly expiresAt: number
}

/**
 * Durable state of pools, sandboxes and sessions. Asynchronous so that a networked store
 * (Postgres) can implement it; every implementation passes store/contract.ts.
 */
export interface Store {
  upsertPool(spec: PoolSpec, now: number): Promise<void>
  getPool(name: string): Promise<PoolSpec | undefined>
  listPools(): Promise<PoolSpec[]>
  deletePool(name: string): Promise<void>

  insertSandbox(record: { id: string; pool: string; createdAt: number }): Promise<void>
  /** starting -> warm, with the driver's handle. */
  markSandboxWarm(id: string, handle: SandboxHandle, readyAt: number): Promise<void>
  markSandboxDestroying(id: string): Promise<void>
  /**
   * warm -> destroying, atomically: false if the sandbox was not warm (e.g. a claim took it
   * first). The pool controller retires surplus, old or lost warm sandboxes with it.
   */
  retireWarmSandbox(id: string): Promise<boolean>
  deleteSandbox(id: string): Promise<void>
  getSandbox(id: string): Promise<SandboxRecord | undefined>
  listSandboxes(filter?: { pool?: string; state?: SandboxState }): Promise<SandboxRecord[]>
  countSandboxes(pool: string): Promise<PoolCounts>

  /**
   * Atomically moves the oldest warm sandbox of `pool` to claimed and creates the session
   * bound to it (state 'starting'), with its attach token if it has one. Two concurrent calls
   * never get the same sandbox.
   */
  claimWarm(pool: string, session: NewSession, now: number): Promise<Claimed | undefined>
  /** Binds a specific warm sandbox (a cold start's own) to a new session, atomically. */
  claimSandbox(sandboxId: string, session: NewSession, now: number): Promise<Claimed | undefined>

  getSession(id: string): Promise<SessionRecord | undefined>
  listSessions(filter?: { user?: string; state?: SessionState; pool?: string }): Promise<SessionRecord[]>
  /** starting -> running, with the claim path's timings. */
  markSessionRunning(id: string, timings: Record<string, number>): Promise<void>
  /** Records the claim path's timings without changing the state. */
  markSessionTimings(id: string, timings: Record<string, number>): Promise<void>
  /** Replaces the network policy of a session that has not ended; false if there is none such. */
  setSessionNetwork(id: string, policy: NetworkPolicy): Promise<boolean>
  /** The session's sealed credentials, or undefined if it has none. */
  getSessionCredentials(id: string): Promise<string | undefined>
  /** Ends the session (no-op if already ended); returns true if this call ended it. */
  endSession(id: string, reason: EndedReason, now: number): Promise<boolean>

  putAttachToken(token: AttachTokenRecord): Promise<void>
  getAttachToken(tokenHash: string): Promise<AttachTokenRecord | undefined>
  deleteExpiredAttachTokens(now: number): Promise<number>

  close(): Promise<void>
}
