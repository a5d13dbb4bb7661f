import type { NetworkPolicy } from '../spec/network-policy.ts'
import type { SandboxHandle } from '../spec/sandbox-handle.ts'
import type { PoolSpec } from '../spec/pool-spec.ts'
import type { KeyScope } from '../spec/key-scope.ts'

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
  /** The key that created it (null: the admin key, or a session older than keys). */
  readonly keyId: string | null
  readonly labels: Readonly<Record<string, string>>
  /** When it ends with `max_lifetime` (null: no limit). */
  readonly expiresAt: number | null
  /** Idle seconds after which it ends with `idle_timeout` (null: no limit). */
  readonly idleTimeoutS: number | null
  /** Who ended it: a key's name, or `system` (timeouts, exits, lost sandboxes). */
  readonly endedBy: string | null
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
  readonly keyId?: string
  /** The creating key's name, for the audit log (default `admin`). */
  readonly actor?: string
  readonly labels?: Readonly<Record<string, string>>
  readonly expiresAt?: number
  readonly idleTimeoutS?: number
  /** Limits the claim checks in its own transaction: exact under any concurrency. */
  readonly admission?: Admission
}

/** The quotas a create is admitted under. */
export interface Admission {
  /** Sessions not ended, per user. */
  readonly maxSessionsPerUser?: number
  /** Sessions not ended created by the key `keyId`. */
  readonly maxSessions?: number
  /** The key's token bucket: this many creates a minute, as a burst too. */
  readonly createsPerMin?: number
}

export type QuotaLimit = 'maxSessions' | 'maxSessionsPerUser' | 'createsPerMin'

/** A create refused by its admission: `quota_exceeded` (concurrency) or `rate_limited` (bucket empty). */
export class QuotaRefused extends Error {
  override readonly name = 'QuotaRefused'
  constructor(
    readonly kind: 'quota_exceeded' | 'rate_limited',
    readonly limit: QuotaLimit,
    readonly value: number,
    readonly retryAfterS: number,
  ) {
    super(kind === 'rate_limited' ? `at most ${value} creates a minute (${limit})` : `at most ${value} sessions at once (${limit})`)
  }
}

/** A scoped API key, as stored: the secret itself never is, only its sha256. */
export interface KeyRecord {
  readonly id: string
  readonly name: string
  /** User patterns (at most one `*` each); null: every user. */
  readonly users: readonly string[] | null
  /** Pool names; null: every pool. */
  readonly pools: readonly string[] | null
  readonly maxSessions: number | null
  readonly createsPerMin: number | null
  readonly expiresAt: number | null
  readonly createdAt: number
  readonly revokedAt: number | null
  readonly rotatedAt: number | null
}

export type NewKey = Omit<KeyRecord, 'revokedAt' | 'rotatedAt'> & { readonly secretHash: string }

export const AUDIT_ACTIONS = [
  'session.create', 'session.end', 'session.network', 'key.create', 'key.revoke', 'key.rotate', 'webhook.create', 'webhook.delete',
] as const
export type AuditAction = (typeof AUDIT_ACTIONS)[number]

export interface AuditEntry {
  readonly id: number
  readonly at: number
  /** The acting key's name (`admin`, a scoped key's name, or `system`). */
  readonly actor: string
  readonly keyId: string | null
  readonly action: AuditAction
  /** What it acted on: a session, key or webhook id. */
  readonly target: string
  readonly details: Readonly<Record<string, unknown>>
}
export type NewAuditEntry = Omit<AuditEntry, 'id'>

export const EVENT_TYPES = ['session.created', 'session.running', 'session.expiring', 'session.ended', 'pool.status'] as const
export type EventType = (typeof EVENT_TYPES)[number]

/** One entry of the event log (GET /v1/events, webhooks): kept 24 h, ids only grow. */
export interface EventRecord {
  readonly id: number
  readonly at: number
  readonly type: EventType
  readonly pool: string | null
  /** The session's user (null for pool events): scoping reads it. */
  readonly user: string | null
  readonly sessionId: string | null
  readonly data: Readonly<Record<string, unknown>>
}
export type NewEvent = Omit<EventRecord, 'id'>

/** A webhook: events of these types are POSTed to `url`, signed with its secret. */
export interface WebhookRecord {
  readonly id: string
  readonly url: string
  readonly events: readonly EventType[]
  /** The signing secret, sealed by the caller (egress/sealed.ts): the store never sees it in clear. */
  readonly sealedSecret: string
  readonly createdAt: number
  /** The name of the key that created it. */
  readonly createdBy: string
}

/** A webhook with what its deliveries say: the last attempt and how many wait. */
export interface WebhookSummary extends WebhookRecord {
  readonly lastAttemptAt: number | null
  /** The HTTP status of the last attempt (null: it got no answer, or none was made). */
  readonly lastStatus: number | null
  readonly lastError: string | null
  /** Deliveries not yet delivered nor abandoned. */
  readonly pending: number
}

export type DeliveryState = 'pending' | 'delivered' | 'abandoned'

/** A delivery due now, leased to the caller (claimDueDeliveries). */
export interface DueDelivery {
  readonly id: string
  readonly webhookId: string
  readonly url: string
  readonly sealedSecret: string
  /** Attempts made before this one. */
  readonly attempts: number
  /** When its event happened: deliveries are given up 24 h after it. */
  readonly eventAt: number
  /** The event (undefined once the event log no longer has it). */
  readonly event: EventRecord | undefined
}

/** What one attempt of a delivery came to. */
export interface DeliveryAttempt {
  readonly at: number
  readonly status: number | null
  readonly error: string | null
  readonly state: DeliveryState
  /** The next attempt, while `pending`. */
  readonly nextAttemptAt: number
}

/** Newest first; `cursor` is the last record of the page before. */
export interface SessionListFilter {
  readonly user?: string
  readonly state?: SessionState
  readonly pool?: string
  /** Every pair must match (AND). */
  readonly labels?: ReadonlyArray<readonly [string, string]>
  /** A scoped key's view: users matching one of these patterns (`*` once at most), pools in the list. */
  readonly scope?: { readonly users: readonly string[] | null; readonly pools: readonly string[] | null }
  readonly limit?: number
  readonly cursor?: { readonly createdAt: number; readonly id: string }
}

/** A scoped key's use of its quotas: sessions not ended, and sessions it created since a time. */
export interface KeyUsage {
  readonly keyId: string
  readonly openSessions: number
  readonly createdSince: number
}

export interface UserUsage {
  readonly user: string
  readonly openSessions: number
}

/** Sessions that ended for `reason` in bucket `bucket` (the bucket starting at since + bucket * bucketMs). */
export interface EndedCount {
  readonly bucket: number
  readonly reason: EndedReason
  readonly count: number
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

/** A named lease (e.g. `pool:default`): who holds it, and until when unless renewed. */
export interface LeaseRecord {
  readonly name: string
  readonly holder: string
  /** When it lapses unless renewed (ms, the holder's clock). */
  readonly expiresAt: number
  /** When the current holder took it (a renewal keeps it). */
  readonly acquiredAt: number
}

/**
 * What replicas share of a session's timeouts: each replica sees only its own viewers' and calls'
 * activity, so the sweep of every replica reads the latest any of them recorded.
 */
export interface SessionTimers {
  readonly id: string
  /** When it ends with `max_lifetime` (null: no limit); a keepalive through any replica moves it. */
  readonly expiresAt: number | null
  /** The latest activity any replica recorded (null: none since its creation). */
  readonly lastActiveAt: number | null
  /** The deadline its `session.expiring` event was last written for (null: none yet). */
  readonly warnedFor: number | null
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
  /**
   * Inserts the `starting` row as insertSandbox does, only while the pool has fewer than `maxSize`
   * sandboxes not being destroyed (starting, warm, claimed); false (nothing written) otherwise.
   * Atomic across every process sharing the store: of concurrent calls, none takes the pool past
   * `maxSize`. The pool's creates go through it, so replicas together respect maxSize.
   */
  insertSandboxWithin(record: { id: string; pool: string; createdAt: number }, maxSize: number): Promise<boolean>
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
   * The pool's warm sandboxes (oldest first, as listSandboxes) and its counts by state, as of one
   * moment: a claim between two separate reads would be counted both warm and claimed, and a
   * controller acting on that would retire a warm sandbox the pool needs.
   */
  warmSnapshot(pool: string): Promise<{ warm: SandboxRecord[]; counts: PoolCounts }>

  /**
   * Atomically moves the oldest warm sandbox of `pool` to claimed and creates the session
   * bound to it (state 'starting'), with its attach token if it has one. Two concurrent calls
   * never get the same sandbox.
   */
  claimWarm(pool: string, session: NewSession, now: number): Promise<Claimed | undefined>
  /** Binds a specific warm sandbox (a cold start's own) to a new session, atomically. */
  claimSandbox(sandboxId: string, session: NewSession, now: number): Promise<Claimed | undefined>

  getSession(id: string): Promise<SessionRecord | undefined>
  /** Sessions, newest first (see SessionListFilter). */
  listSessions(filter?: SessionListFilter): Promise<SessionRecord[]>
  /** Sessions not ended, by user and by key: what the quotas count. */
  countOpenSessions(by: { user?: string; keyId?: string }): Promise<number>
  /** The admission's checks without the claim (read only): a cold start is not begun for a refused create. */
  checkAdmission(session: NewSession, now: number): Promise<void>
  /** starting -> running, with the claim path's timings (and the `session.running` event). */
  markSessionRunning(id: string, timings: Record<string, number>, now: number): Promise<void>
  /** Moves the lifetime limit of a session that has not ended; false if there is none such. */
  setSessionExpiry(id: string, expiresAt: number | null): Promise<boolean>
  /**
   * Records activity of open sessions: each one's last activity moves to `at` if that is later
   * (never back). One call for many sessions: a replica's sweep writes its sessions' activity at once.
   */
  recordSessionActivity(activity: readonly { readonly id: string; readonly at: number }[]): Promise<void>
  /** The timers of those of `ids` that have not ended. */
  getSessionTimers(ids: readonly string[]): Promise<SessionTimers[]>
  /**
   * Records that the session was warned of the deadline `deadline`; true only for the one call that
   * recorded it (false once ended, or when that deadline was already recorded): of replicas
   * sweeping the same session, one writes its `session.expiring` event.
   */
  markSessionWarned(id: string, deadline: number): Promise<boolean>
  /** Deletes sessions that ended before `before` (with their labels and tokens); returns how many. */
  purgeEndedSessions(before: number): Promise<number>
  /** Records the claim path's timings without changing the state. */
  markSessionTimings(id: string, timings: Record<string, number>): Promise<void>
  /** Replaces the network policy of a session that has not ended; false if there is none such. */
  setSessionNetwork(id: string, policy: NetworkPolicy): Promise<boolean>
  /** The session's sealed credentials, or undefined if it has none. */
  getSessionCredentials(id: string): Promise<string | undefined>
  /**
   * Ends the session (no-op if already ended); returns true if this call ended it. The audit entry
   * and the `session.ended` event are written in the same transaction. `by` is the key's name
   * (default `system`).
   */
  endSession(id: string, reason: EndedReason, now: number, by?: { readonly actor: string; readonly keyId: string | null }): Promise<boolean>

  /** Per key with any: its sessions not ended and those it created at or after `since`, by key id. */
  keyUsage(since: number): Promise<KeyUsage[]>
  /** The users with the most sessions not ended, most first (then by name), within a scope if given. */
  topOpenUsers(limit: number, scope?: KeyScope): Promise<UserUsage[]>
  /** Sessions that ended in [since, since + buckets * bucketMs), counted per bucket and reason, within a scope if given. */
  endedByReason(f: { since: number; bucketMs: number; buckets: number; scope?: KeyScope }): Promise<EndedCount[]>

  insertKey(key: NewKey): Promise<void>
  getKey(id: string): Promise<KeyRecord | undefined>
  /** The key whose secret hashes to this (revoked and expired ones too: the caller decides). */
  getKeyBySecretHash(secretHash: string): Promise<KeyRecord | undefined>
  listKeys(): Promise<KeyRecord[]>
  /** Marks it revoked (idempotent); false if there is no such key. */
  revokeKey(id: string, now: number): Promise<boolean>
  /** Replaces its secret's hash; false if there is no such key or it is revoked. */
  rotateKey(id: string, secretHash: string, now: number): Promise<boolean>

  appendAudit(entry: NewAuditEntry): Promise<void>
  /** Oldest first from `since`; `afterId` continues a page. */
  listAudit(filter: { since?: number; afterId?: number; limit: number }): Promise<AuditEntry[]>

  /** Appends an event; returns its id. Session events of create, running and end are written by those calls. */
  appendEvent(event: NewEvent): Promise<number>
  /** Events with id > afterId, oldest first. */
  listEvents(afterId: number, limit: number): Promise<EventRecord[]>
  /** Deletes events older than `before`; returns how many. */
  purgeEvents(before: number): Promise<number>
  /** The id of the newest event (0: none yet). */
  lastEventId(): Promise<number>
  /**
   * Calls `listener` after this store committed events (an event bus then reads them at once).
   * SQLite: events other processes append are seen by reading again; Postgres: also after other
   * stores' commits on the same database (LISTEN/NOTIFY), soon after they happen. Returns the
   * unsubscribe.
   */
  watchEvents(listener: () => void): () => void
  /**
   * Whether this process wants to hear of other stores' events now (Postgres: its listening
   * connection LISTENs only while `wanted()` says so, checked every few tens of ms; when it starts
   * again the watchers are called once, since what was committed meanwhile was not heard). A
   * replica that runs no pool and serves no event stream or webhook says no: every replica
   * listening would make each commit wake every replica. SQLite: nothing to do.
   */
  setEventDemand(wanted: () => boolean): void

  /** Adds a webhook; it gets the events appended from now on. */
  insertWebhook(webhook: WebhookRecord): Promise<void>
  listWebhooks(): Promise<WebhookSummary[]>
  /** Whether any webhook exists (one cheap read: the delivery worker asks it every tick). */
  hasWebhooks(): Promise<boolean>
  /** Deletes it and its deliveries; false if there is no such webhook. */
  deleteWebhook(id: string): Promise<boolean>
  /**
   * Moves the webhooks' cursor over the event log by at most `limit` events, adding a pending
   * delivery (due `now`) per event and webhook that wants its type, in one transaction: every
   * event is handed to every webhook once, whichever process does it. Returns how many events
   * it moved over.
   */
  enqueueDeliveries(limit: number, now: number): Promise<number>
  /**
   * Pending deliveries due at `now`, at most `limit`, oldest due first, each leased for `leaseMs`
   * (its next attempt moved to now + leaseMs) so no other worker takes it meanwhile; a worker that
   * dies mid-attempt leaves it to be taken again once the lease ends.
   */
  claimDueDeliveries(now: number, limit: number, leaseMs: number): Promise<DueDelivery[]>
  /** Records an attempt's outcome; false if the delivery is gone (its webhook was deleted). */
  recordDeliveryAttempt(id: string, attempt: DeliveryAttempt): Promise<boolean>
  /** Deletes delivered and abandoned deliveries of events older than `before`; returns how many. */
  purgeDeliveries(before: number): Promise<number>

  putAttachToken(token: AttachTokenRecord): Promise<void>
  getAttachToken(tokenHash: string): Promise<AttachTokenRecord | undefined>
  /**
   * The token and its session, read together (one statement: a terminal's attach checks the token
   * and reads the session in one round trip); `session` undefined when the token's session is not
   * there. Undefined when there is no such token.
   */
  getAttachTokenSession(tokenHash: string): Promise<{ token: AttachTokenRecord; session: SessionRecord | undefined } | undefined>
  deleteExpiredAttachTokens(now: number): Promise<number>

  /**
   * Takes the lease `name` for `holder` until now + ttlMs when it is free or has lapsed
   * (expiresAt <= now), or renews it when `holder` already holds it; false when another holder's
   * lease is still running. Atomic: of two concurrent calls for a free lease one gets it. Times
   * are the callers' clocks, so replicas' clocks must agree to well within the TTL.
   */
  acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean>
  /** Gives the lease up if `holder` holds it (lapsed or not); false otherwise. */
  releaseLease(name: string, holder: string): Promise<boolean>
  getLease(name: string): Promise<LeaseRecord | undefined>

  close(): Promise<void>
}
