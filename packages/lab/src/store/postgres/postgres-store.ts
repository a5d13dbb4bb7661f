import { randomUUID } from 'node:crypto'
import type { NetworkPolicy } from '../../spec/network-policy.ts'
import type { SandboxHandle } from '../../spec/sandbox-handle.ts'
import type { PoolSpec } from '../../spec/pool-spec.ts'
import { parseStoredPoolSpec } from '../../spec/stored-pool-spec.ts'
import type { KeyScope } from '../../spec/key-scope.ts'
import { StoreConflictError } from '../errors.ts'
import { toSandbox, toSession, toTokenSession, type SandboxRow, type SessionRow, type TokenSessionRow } from '../rows.ts'
import type {
  AttachTokenRecord, AuditEntry, Claimed, LeaseRecord, DeliveryAttempt, DueDelivery, EndedCount, EndedReason, EventRecord, KeyRecord, KeyUsage, NewAuditEntry,
  NewEvent, NewKey, NewSession, PoolCounts, SandboxRecord, SandboxState, SessionListFilter, SessionRecord, SessionTimers, Store, UserUsage,
  WebhookRecord, WebhookSummary,
} from '../types.ts'
import { checkAdmission, countOpen } from './admission.ts'
import { claimOne } from './claim.ts'
import { qualified, SANDBOX_COLUMNS, SESSION_COLUMNS } from './columns.ts'
import { clientConfig, PgDb, prepared, type PgConnectOptions } from './db.ts'
import { PgKeys } from './keys.ts'
import { PgLeases } from './leases.ts'
import { EVENTS_CHANNEL, EventsListener } from './listener.ts'
import { appendLogs, lastEventId, listAudit, listEvents, purgeEvents } from './logs.ts'
import { migrate, type MigrationResult } from './migrations.ts'
import { listSessionRows } from './session-list.ts'
import { getTimers, markWarned, recordActivity } from './session-timers.ts'
import { PgUsage } from './usage.ts'
import { PgWebhooks } from './webhooks.ts'

export interface PostgresStoreOptions {
  /** `postgres://…`; see PgConnectOptions.url. */
  readonly url: string
  /** Connections in the pool (default 10); the event listener holds one more. */
  readonly poolSize?: number
  /** Default 5000. */
  readonly connectTimeoutMs?: number
  /** Default 10000. */
  readonly queryTimeoutMs?: number
  /** Told about connections lost in the background (an idle one the server closed, the listener's). */
  readonly onConnectionError?: (err: Error) => void
}

export const DEFAULT_POOL_SIZE = 10

/** The statements of the frequent calls (the claim path's own are in claim.ts, admission.ts and logs.ts). */
const Q = {
  insertSandbox: prepared(`INSERT INTO sandboxes (id, pool, state, created_at) VALUES ($1, $2, 'starting', $3)`),
  // The pool's inserts queue on one advisory lock per pool (held to the commit): each counts what
  // the one before it committed.
  /** lab_insert_sandbox_v1 (claim-function.ts): the row, within maxSize under the pool's lock, in one round trip. */
  insertWithin: prepared(`SELECT lab_insert_sandbox_v1($1, $2, $3, $4) AS inserted`),
  markWarm: prepared(`UPDATE sandboxes SET state = 'warm', handle = $2, ready_at = $3 WHERE id = $1 AND state = 'starting'`),
  getSandbox: prepared(`SELECT ${SANDBOX_COLUMNS} FROM sandboxes WHERE id = $1`),
  getSession: prepared(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = $1`),
  /**
   * starting -> running and its `session.running` event in one round trip: lab_mark_running_v1
   * (claim-function.ts). Nothing is logged when the session was not starting.
   */
  markRunning: prepared(`SELECT lab_mark_running_v1($1, $2, $3, '${EVENTS_CHANNEL}', $4) AS event_id`),
  // An ended session's credentials are dropped at once: nothing can use them any more.
  endSession: prepared(`UPDATE sessions SET state = 'ended', ended_at = $2, ended_reason = $3, ended_by = $4, credentials = NULL
    WHERE id = $1 AND state <> 'ended' RETURNING pool, "user"`),
  putToken: prepared(`INSERT INTO attach_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)
    ON CONFLICT (token_hash) DO UPDATE SET session_id = excluded.session_id, expires_at = excluded.expires_at`),
  // The counts by state on every row, the warm rows joined to them: no warm row gives one row of
  // counts and NULLs.
  warmSnapshot: prepared(`SELECT c.n_starting, c.n_warm, c.n_claimed, c.n_destroying, ${qualified(SANDBOX_COLUMNS, 's')}
    FROM (SELECT COUNT(*) FILTER (WHERE state = 'starting')::int AS n_starting, COUNT(*) FILTER (WHERE state = 'warm')::int AS n_warm,
      COUNT(*) FILTER (WHERE state = 'claimed')::int AS n_claimed, COUNT(*) FILTER (WHERE state = 'destroying')::int AS n_destroying
      FROM sandboxes WHERE pool = $1) c
    LEFT JOIN sandboxes s ON s.pool = $1 AND s.state = 'warm'
    ORDER BY s.created_at, s.id`),
  getToken: prepared('SELECT token_hash, session_id, expires_at FROM attach_tokens WHERE token_hash = $1'),
  // The session's columns under their own names (SESSION_COLUMNS, qualified), the token's renamed.
  getTokenSession: prepared(`SELECT t.session_id AS token_session_id, t.expires_at AS token_expires_at, ${qualified(SESSION_COLUMNS, 's')}
    FROM attach_tokens t LEFT JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1`),
}

/**
 * The store for replicas: any number of gateways share one PostgreSQL database. Claims lock the
 * oldest warm sandbox with FOR UPDATE SKIP LOCKED in one transaction, so parallel claims from
 * every replica take distinct sandboxes without waiting for each other; quotas are exact across
 * replicas (admission.ts); events other replicas append wake this one's watchers through
 * LISTEN/NOTIFY (listener.ts). Every call gives up within the connect and query timeouts with a
 * StoreUnavailableError when the database cannot be reached, and the pool reconnects by itself.
 */
export class PostgresStore implements Store {
  /** Carried by this store's notifications, so its listener skips its own. */
  private readonly writer = randomUUID()
  private readonly keys: PgKeys
  private readonly leases: PgLeases
  private readonly usage: PgUsage
  private readonly webhooks: PgWebhooks
  private readonly eventWatchers = new Set<() => void>()
  private listener: EventsListener | undefined
  private eventDemand: () => boolean = () => true
  private closed = false

  private constructor(readonly db: PgDb, readonly migration: MigrationResult, private readonly onConnectionError: (err: Error) => void) {
    this.keys = new PgKeys(db)
    this.leases = new PgLeases(db)
    this.usage = new PgUsage(db)
    this.webhooks = new PgWebhooks(db)
  }

  /** Connects and migrates (migrations.ts); throws StoreUnavailableError when the database cannot be reached. */
  static async open(o: PostgresStoreOptions): Promise<PostgresStore> {
    const options: PgConnectOptions = {
      url: o.url, poolSize: o.poolSize ?? DEFAULT_POOL_SIZE, connectTimeoutMs: o.connectTimeoutMs ?? 5000, queryTimeoutMs: o.queryTimeoutMs ?? 10_000,
    }
    const onError = o.onConnectionError ?? (() => undefined)
    const migration = await migrate(options)
    return new PostgresStore(new PgDb(options, onError), migration, onError)
  }

  async upsertPool(spec: PoolSpec, now: number): Promise<void> {
    await this.db.query(`INSERT INTO pools (name, spec, updated_at) VALUES ($1, $2, $3)
      ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`, [spec.name, JSON.stringify(spec), now])
  }

  async getPool(name: string): Promise<PoolSpec | undefined> {
    const row = (await this.db.query<{ spec: string }>('SELECT spec FROM pools WHERE name = $1', [name])).rows[0]
    return row ? parseStoredPoolSpec(JSON.parse(row.spec)) : undefined
  }

  async listPools(): Promise<PoolSpec[]> {
    return (await this.db.query<{ spec: string }>('SELECT spec FROM pools ORDER BY name')).rows.map((r) => parseStoredPoolSpec(JSON.parse(r.spec)))
  }

  async deletePool(name: string): Promise<void> {
    await this.db.query('DELETE FROM pools WHERE name = $1', [name])
  }

  async insertSandbox(record: { id: string; pool: string; createdAt: number }): Promise<void> {
    await this.db.query(Q.insertSandbox, [record.id, record.pool, record.createdAt])
  }

  async insertSandboxWithin(record: { id: string; pool: string; createdAt: number }, maxSize: number): Promise<boolean> {
    return (await this.db.query<{ inserted: boolean }>(Q.insertWithin, [record.id, record.pool, record.createdAt, maxSize])).rows[0]!.inserted
  }

  async markSandboxWarm(id: string, handle: SandboxHandle, readyAt: number): Promise<void> {
    const r = await this.db.query(Q.markWarm, [id, JSON.stringify(handle), readyAt])
    if (r.rowCount !== 1) throw new StoreConflictError(`sandbox ${id} is not starting; cannot mark it warm`)
  }

  async markSandboxDestroying(id: string): Promise<void> {
    await this.db.query(`UPDATE sandboxes SET state = 'destroying' WHERE id = $1`, [id])
  }

  async retireWarmSandbox(id: string): Promise<boolean> {
    return (await this.db.query(`UPDATE sandboxes SET state = 'destroying' WHERE id = $1 AND state = 'warm'`, [id])).rowCount === 1
  }

  async deleteSandbox(id: string): Promise<void> {
    await this.db.query('DELETE FROM sandboxes WHERE id = $1', [id])
  }

  async getSandbox(id: string): Promise<SandboxRecord | undefined> {
    const row = (await this.db.query<SandboxRow>(Q.getSandbox, [id])).rows[0]
    return row ? toSandbox(row) : undefined
  }

  async listSandboxes(filter: { pool?: string; state?: SandboxState } = {}): Promise<SandboxRecord[]> {
    const { rows } = await this.db.query<SandboxRow>(`SELECT ${SANDBOX_COLUMNS} FROM sandboxes WHERE ($1::text IS NULL OR pool = $1) AND ($2::text IS NULL OR state = $2)
      ORDER BY created_at, id`, [filter.pool ?? null, filter.state ?? null])
    return rows.map(toSandbox)
  }

  async countSandboxes(pool: string): Promise<PoolCounts> {
    const counts = { starting: 0, warm: 0, claimed: 0, destroying: 0 }
    const { rows } = await this.db.query<{ state: SandboxState; n: number }>('SELECT state, COUNT(*) AS n FROM sandboxes WHERE pool = $1 GROUP BY state', [pool])
    for (const r of rows) counts[r.state] = r.n
    return counts
  }

  async warmSnapshot(pool: string): Promise<{ warm: SandboxRecord[]; counts: PoolCounts }> {
    // One statement, so one snapshot: the counts and the warm rows of the same moment.
    type Row = Omit<SandboxRow, 'id'> & { id: string | null; n_starting: number; n_warm: number; n_claimed: number; n_destroying: number }
    const { rows } = await this.db.query<Row>(Q.warmSnapshot, [pool])
    const c = rows[0]
    const counts = { starting: c?.n_starting ?? 0, warm: c?.n_warm ?? 0, claimed: c?.n_claimed ?? 0, destroying: c?.n_destroying ?? 0 }
    return { warm: rows.flatMap((r) => (r.id === null ? [] : [toSandbox(r as SandboxRow)])), counts }
  }

  async claimWarm(pool: string, session: NewSession, now: number): Promise<Claimed | undefined> {
    if (session.pool !== pool) throw new TypeError(`session pool ${session.pool} differs from claimed pool ${pool}`)
    const claimed = await claimOne(this.db, undefined, session, now, true, this.writer)
    if (claimed) this.eventsAppended()
    return claimed
  }

  async claimSandbox(sandboxId: string, session: NewSession, now: number): Promise<Claimed | undefined> {
    const claimed = await claimOne(this.db, sandboxId, session, now, false, this.writer)
    if (claimed) this.eventsAppended()
    return claimed
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const row = (await this.db.query<SessionRow>(Q.getSession, [id])).rows[0]
    return row ? toSession(row) : undefined
  }

  async listSessions(filter: SessionListFilter = {}): Promise<SessionRecord[]> {
    return (await listSessionRows(this.db, filter)).map(toSession)
  }

  async countOpenSessions(by: { user?: string; keyId?: string }): Promise<number> {
    return countOpen(this.db, by)
  }

  async checkAdmission(session: NewSession, now: number): Promise<void> {
    await checkAdmission(this.db, session, now)
  }

  async markSessionRunning(id: string, timings: Record<string, number>, now: number): Promise<void> {
    const { rows: [r] } = await this.db.query<{ event_id: string | null }>(Q.markRunning, [id, JSON.stringify(timings), now, this.writer])
    if (r !== undefined && r.event_id !== null) this.eventsAppended()
  }

  async setSessionExpiry(id: string, expiresAt: number | null): Promise<boolean> {
    return (await this.db.query(`UPDATE sessions SET expires_at = $2 WHERE id = $1 AND state <> 'ended'`, [id, expiresAt])).rowCount === 1
  }

  async recordSessionActivity(activity: readonly { readonly id: string; readonly at: number }[]): Promise<void> {
    await recordActivity(this.db, activity)
  }

  async getSessionTimers(ids: readonly string[]): Promise<SessionTimers[]> {
    return getTimers(this.db, ids)
  }

  async markSessionWarned(id: string, deadline: number): Promise<boolean> {
    return markWarned(this.db, id, deadline)
  }

  async purgeEndedSessions(before: number): Promise<number> {
    return (await this.db.query('DELETE FROM sessions WHERE ended_at < $1', [before])).rowCount ?? 0
  }

  async markSessionTimings(id: string, timings: Record<string, number>): Promise<void> {
    await this.db.query('UPDATE sessions SET timings = $2 WHERE id = $1', [id, JSON.stringify(timings)])
  }

  async setSessionNetwork(id: string, policy: NetworkPolicy): Promise<boolean> {
    return (await this.db.query(`UPDATE sessions SET network = $2 WHERE id = $1 AND state <> 'ended'`, [id, JSON.stringify(policy)])).rowCount === 1
  }

  async getSessionCredentials(id: string): Promise<string | undefined> {
    const row = (await this.db.query<{ credentials: string | null }>('SELECT credentials FROM sessions WHERE id = $1', [id])).rows[0]
    return row?.credentials ?? undefined
  }

  async endSession(id: string, reason: EndedReason, now: number, by?: { readonly actor: string; readonly keyId: string | null }): Promise<boolean> {
    const who = by ?? { actor: 'system', keyId: null }
    const ended = await this.db.tx(async (sql) => {
      const { rows: [s] } = await sql.query<{ pool: string; user: string }>(Q.endSession, [id, now, reason, who.actor])
      if (!s) return false
      await appendLogs(sql, {
        audit: { at: now, actor: who.actor, keyId: who.keyId, action: 'session.end', target: id, details: { reason } },
        event: { at: now, type: 'session.ended', pool: s.pool, user: s.user, sessionId: id, data: { reason, endedBy: who.actor } },
      }, this.writer)
      return true
    })
    if (ended) this.eventsAppended()
    return ended
  }

  async keyUsage(since: number): Promise<KeyUsage[]> {
    return this.usage.keyUsage(since)
  }

  async topOpenUsers(limit: number, scope?: KeyScope): Promise<UserUsage[]> {
    return this.usage.topOpenUsers(limit, scope)
  }

  async endedByReason(f: { since: number; bucketMs: number; buckets: number; scope?: KeyScope }): Promise<EndedCount[]> {
    return this.usage.endedByReason(f)
  }

  async insertKey(key: NewKey): Promise<void> {
    await this.keys.insert(key)
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    return this.keys.get(id)
  }

  async getKeyBySecretHash(secretHash: string): Promise<KeyRecord | undefined> {
    return this.keys.bySecretHash(secretHash)
  }

  async listKeys(): Promise<KeyRecord[]> {
    return this.keys.list()
  }

  async revokeKey(id: string, now: number): Promise<boolean> {
    return this.keys.revoke(id, now)
  }

  async rotateKey(id: string, secretHash: string, now: number): Promise<boolean> {
    return this.keys.rotate(id, secretHash, now)
  }

  async appendAudit(entry: NewAuditEntry): Promise<void> {
    await appendLogs(this.db, { audit: entry }, this.writer)
  }

  async listAudit(filter: { since?: number; afterId?: number; limit: number }): Promise<AuditEntry[]> {
    return listAudit(this.db, filter)
  }

  async appendEvent(event: NewEvent): Promise<number> {
    const id = (await appendLogs(this.db, { event }, this.writer))!
    this.eventsAppended()
    return id
  }

  async listEvents(afterId: number, limit: number): Promise<EventRecord[]> {
    return listEvents(this.db, afterId, limit)
  }

  async purgeEvents(before: number): Promise<number> {
    return purgeEvents(this.db, before)
  }

  async lastEventId(): Promise<number> {
    return lastEventId(this.db)
  }

  /**
   * Watchers are told at once after this store's own commits that wrote events, and through
   * LISTEN/NOTIFY after other stores' (another replica's): the listening connection is opened with
   * the first watcher.
   */
  watchEvents(listener: () => void): () => void {
    const once = () => listener()
    this.eventWatchers.add(once)
    this.listener ??= new EventsListener(clientConfig(this.db.options), this.writer, () => this.eventsAppended(), this.onConnectionError, () => this.eventDemand())
    return () => this.eventWatchers.delete(once)
  }

  setEventDemand(wanted: () => boolean): void {
    this.eventDemand = wanted
  }

  /** Resolves once the listening connection listens (for tests; undefined: no watcher yet). */
  get listening(): Promise<void> | undefined {
    return this.listener?.ready
  }

  /** After a commit that wrote events: the watchers read them (a throwing watcher never fails the write). */
  private eventsAppended(): void {
    for (const w of this.eventWatchers) {
      try {
        w()
      } catch {
        // a watcher's own failure is its own; the write has committed
      }
    }
  }

  async insertWebhook(webhook: WebhookRecord): Promise<void> {
    await this.webhooks.insert(webhook)
  }

  async listWebhooks(): Promise<WebhookSummary[]> {
    return this.webhooks.list()
  }

  async deleteWebhook(id: string): Promise<boolean> {
    return this.webhooks.delete(id)
  }

  async hasWebhooks(): Promise<boolean> {
    return this.webhooks.any()
  }

  async enqueueDeliveries(limit: number, now: number): Promise<number> {
    return this.webhooks.enqueue(limit, now)
  }

  async claimDueDeliveries(now: number, limit: number, leaseMs: number): Promise<DueDelivery[]> {
    return this.webhooks.claimDue(now, limit, leaseMs)
  }

  async recordDeliveryAttempt(id: string, attempt: DeliveryAttempt): Promise<boolean> {
    return this.webhooks.record(id, attempt)
  }

  async purgeDeliveries(before: number): Promise<number> {
    return this.webhooks.purge(before)
  }

  async putAttachToken(token: AttachTokenRecord): Promise<void> {
    await this.db.query(Q.putToken, [token.tokenHash, token.sessionId, token.expiresAt])
  }

  async getAttachToken(tokenHash: string): Promise<AttachTokenRecord | undefined> {
    const row = (await this.db.query<{ token_hash: string; session_id: string; expires_at: number }>(Q.getToken, [tokenHash])).rows[0]
    return row ? { tokenHash: row.token_hash, sessionId: row.session_id, expiresAt: row.expires_at } : undefined
  }

  async getAttachTokenSession(tokenHash: string): Promise<{ token: AttachTokenRecord; session: SessionRecord | undefined } | undefined> {
    const row = (await this.db.query<TokenSessionRow>(Q.getTokenSession, [tokenHash])).rows[0]
    return row ? toTokenSession(tokenHash, row) : undefined
  }

  async deleteExpiredAttachTokens(now: number): Promise<number> {
    return (await this.db.query('DELETE FROM attach_tokens WHERE expires_at <= $1', [now])).rowCount ?? 0
  }

  async acquireLease(name: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    return this.leases.acquire(name, holder, now, ttlMs)
  }

  async releaseLease(name: string, holder: string): Promise<boolean> {
    return this.leases.release(name, holder)
  }

  async getLease(name: string): Promise<LeaseRecord | undefined> {
    return this.leases.get(name)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.eventWatchers.clear()
    await this.listener?.stop()
    await this.db.end()
  }
}
