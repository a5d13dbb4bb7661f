import Database from 'better-sqlite3'
import type { NetworkPolicy } from '../../spec/network-policy.ts'
import type { SandboxHandle } from '../../spec/sandbox-handle.ts'
import type { PoolSpec } from '../../spec/pool-spec.ts'
import { parseStoredPoolSpec } from '../../spec/stored-pool-spec.ts'
import type {
  AttachTokenRecord, AuditEntry, Claimed, LeaseRecord, DeliveryAttempt, DueDelivery, EndedCount, EndedReason, EventRecord, KeyRecord, KeyUsage, NewAuditEntry,
  NewEvent, NewKey, NewSession, PoolCounts, SandboxRecord, SandboxState, SessionListFilter, SessionRecord, SessionTimers, Store, UserUsage,
  WebhookRecord, WebhookSummary,
} from '../types.ts'
import type { KeyScope } from '../../spec/key-scope.ts'
import { SqliteAdmission } from './admission.ts'
import { WalCheckpointer } from './checkpointer.ts'
import { SqliteKeys } from './keys.ts'
import { SqliteLeases } from './leases.ts'
import { SqliteLogs } from './logs.ts'
import { migrate } from './migrations.ts'
import { newSessionRecord, toSandbox, toSession, toTokenSession, type SandboxRow, type SessionRow, type TokenSessionRow } from '../rows.ts'
import { StoreConflictError } from '../errors.ts'
import { listSessionRows } from './session-list.ts'
import { SqliteUsage } from './usage.ts'
import { SqliteWebhooks } from './webhooks.ts'

export interface SqliteStoreOptions {
  /** How long a writer waits for another connection's lock before SQLITE_BUSY, in ms. */
  busyTimeoutMs?: number
  /** Checkpoint the WAL from a worker thread (default) instead of inside commits. */
  checkpointInWorker?: boolean
}

/**
 * The embedded default store: one SQLite file (or ':memory:') through better-sqlite3.
 * Claims run as BEGIN IMMEDIATE transactions, so they are atomic even across processes
 * sharing the file. Secrets are never stored: sessions keep env names only.
 *
 * Durability: WAL with synchronous=NORMAL. A commit appends to the WAL and does not fsync; a
 * killed gateway loses nothing it committed (the WAL is in the kernel's page cache), and a power
 * loss can lose the last commits before a checkpoint but never corrupts the file. Checkpoints
 * (the only fsyncs) run in a worker thread (checkpointer.ts), off the claim path. docs/design.md.
 */
export class SqliteStore implements Store {
  readonly db: Database.Database
  private readonly q
  private readonly claimTx: Database.Transaction<SqliteStore['claim']>
  private readonly endTx: Database.Transaction<SqliteStore['end']>
  private readonly runningTx: Database.Transaction<SqliteStore['running']>
  private readonly insertWithinTx: Database.Transaction<(record: { id: string; pool: string; createdAt: number }, maxSize: number) => boolean>
  private readonly activityTx: Database.Transaction<(activity: readonly { readonly id: string; readonly at: number }[]) => void>
  private readonly checkpointer: WalCheckpointer | undefined
  private readonly admission: SqliteAdmission
  private readonly keys: SqliteKeys
  private readonly leases: SqliteLeases
  private readonly logs: SqliteLogs
  private readonly usage: SqliteUsage
  private readonly webhooks: SqliteWebhooks
  private readonly eventWatchers = new Set<() => void>()

  constructor(readonly path: string, options: SqliteStoreOptions = {}) {
    this.db = new Database(path)
    if (path !== ':memory:') this.db.pragma('journal_mode = WAL')
    this.db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`)
    this.db.pragma('foreign_keys = ON')
    this.db.pragma('synchronous = NORMAL')
    if (path !== ':memory:' && options.checkpointInWorker !== false) {
      this.db.pragma('wal_autocheckpoint = 0')
      // Without the worker the WAL would grow without bound: SQLite checkpoints again.
      this.checkpointer = new WalCheckpointer(path, () => {
        if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000')
      })
    }
    migrate(this.db)
    this.q = prepare(this.db)
    this.admission = new SqliteAdmission(this.db)
    this.keys = new SqliteKeys(this.db)
    this.leases = new SqliteLeases(this.db)
    this.logs = new SqliteLogs(this.db)
    this.usage = new SqliteUsage(this.db)
    this.webhooks = new SqliteWebhooks(this.db)
    this.claimTx = this.db.transaction(this.claim.bind(this))
    this.endTx = this.db.transaction(this.end.bind(this))
    this.runningTx = this.db.transaction(this.running.bind(this))
    this.insertWithinTx = this.db.transaction((record: { id: string; pool: string; createdAt: number }, maxSize: number) =>
      this.q.insertWithin.run({ id: record.id, pool: record.pool, created_at: record.createdAt, max_size: maxSize }).changes === 1)
    this.activityTx = this.db.transaction((activity: readonly { readonly id: string; readonly at: number }[]) => {
      for (const a of activity) this.q.recordActivity.run({ id: a.id, at: a.at })
    })
  }

  /** Opens (and migrates) a store; async for symmetry with networked stores. */
  static async open(path: string, options?: SqliteStoreOptions): Promise<SqliteStore> {
    return new SqliteStore(path, options)
  }

  async upsertPool(spec: PoolSpec, now: number): Promise<void> {
    this.q.upsertPool.run({ name: spec.name, spec: JSON.stringify(spec), updated_at: now })
  }

  async getPool(name: string): Promise<PoolSpec | undefined> {
    const row = this.q.getPool.get(name) as { spec: string } | undefined
    return row ? parseStoredPoolSpec(JSON.parse(row.spec)) : undefined
  }

  async listPools(): Promise<PoolSpec[]> {
    return (this.q.listPools.all() as { spec: string }[]).map((r) => parseStoredPoolSpec(JSON.parse(r.spec)))
  }

  async deletePool(name: string): Promise<void> {
    this.q.deletePool.run(name)
  }

  async insertSandbox(record: { id: string; pool: string; createdAt: number }): Promise<void> {
    this.q.insertSandbox.run({ id: record.id, pool: record.pool, created_at: record.createdAt })
  }

  async insertSandboxWithin(record: { id: string; pool: string; createdAt: number }, maxSize: number): Promise<boolean> {
    // IMMEDIATE: the write lock first, so the count is the one the insert commits on.
    return this.insertWithinTx.immediate(record, maxSize)
  }

  async markSandboxWarm(id: string, handle: SandboxHandle, readyAt: number): Promise<void> {
    const r = this.q.markWarm.run({ id, handle: JSON.stringify(handle), ready_at: readyAt })
    if (r.changes !== 1) throw new StoreConflictError(`sandbox ${id} is not starting; cannot mark it warm`)
  }

  async markSandboxDestroying(id: string): Promise<void> {
    this.q.markDestroying.run(id)
  }

  async retireWarmSandbox(id: string): Promise<boolean> {
    return this.q.retireWarm.run(id).changes === 1
  }

  async deleteSandbox(id: string): Promise<void> {
    this.q.deleteSandbox.run(id)
  }

  async getSandbox(id: string): Promise<SandboxRecord | undefined> {
    const row = this.q.getSandbox.get(id) as SandboxRow | undefined
    return row ? toSandbox(row) : undefined
  }

  async listSandboxes(filter: { pool?: string; state?: SandboxState } = {}): Promise<SandboxRecord[]> {
    return this.sandboxesNow(filter)
  }

  async countSandboxes(pool: string): Promise<PoolCounts> {
    return this.countsNow(pool)
  }

  async warmSnapshot(pool: string): Promise<{ warm: SandboxRecord[]; counts: PoolCounts }> {
    // Both reads before any other code runs (no await between them): one moment of the database.
    return { warm: this.sandboxesNow({ pool, state: 'warm' }), counts: this.countsNow(pool) }
  }

  private sandboxesNow(filter: { pool?: string; state?: SandboxState }): SandboxRecord[] {
    return (this.q.listSandboxes.all({ pool: filter.pool ?? null, state: filter.state ?? null }) as SandboxRow[]).map(toSandbox)
  }

  private countsNow(pool: string): PoolCounts {
    const counts = { starting: 0, warm: 0, claimed: 0, destroying: 0 }
    for (const r of this.q.countSandboxes.all(pool) as { state: SandboxState; n: number }[]) counts[r.state] = r.n
    return counts
  }

  async claimWarm(pool: string, session: NewSession, now: number): Promise<Claimed | undefined> {
    if (session.pool !== pool) throw new TypeError(`session pool ${session.pool} differs from claimed pool ${pool}`)
    const claimed = this.claimTx.immediate(() => this.q.oldestWarm.get(pool) as SandboxRow | undefined, session, now, true)
    if (claimed) this.eventsAppended()
    return claimed
  }

  async claimSandbox(sandboxId: string, session: NewSession, now: number): Promise<Claimed | undefined> {
    const pick = () => this.q.warmById.get(sandboxId, session.pool) as SandboxRow | undefined
    const claimed = this.claimTx.immediate(pick, session, now, false)
    if (claimed) this.eventsAppended()
    return claimed
  }

  /**
   * One transaction body: check the quotas, pick a warm sandbox, insert the session (its labels,
   * its token, its audit entry and `session.created` event), bind the sandbox to it: one commit.
   */
  private claim(pick: () => SandboxRow | undefined, s: NewSession, now: number, warm: boolean): Claimed | undefined {
    const picked = pick()
    if (!picked) return undefined
    this.admission.check(s, now, true) // throws: the transaction rolls back, the sandbox stays warm
    const labels = s.labels ?? {}
    const network = s.network === undefined ? null : JSON.stringify(s.network)
    this.q.insertSession.run({
      id: s.id, user: s.user, pool: s.pool, sandbox_id: picked.id, warm: warm ? 1 : 0, created_at: s.createdAt,
      env_names: JSON.stringify([...s.envNames]), network, credentials: s.sealedCredentials ?? null,
      key_id: s.keyId ?? null, labels: JSON.stringify(labels), expires_at: s.expiresAt ?? null, idle_timeout_s: s.idleTimeoutS ?? null,
    })
    for (const [key, value] of Object.entries(labels)) this.q.insertLabel.run({ session_id: s.id, key, value })
    const bound = this.q.bindSandbox.run({ id: picked.id, session_id: s.id, claimed_at: now })
    // Cannot happen inside an IMMEDIATE transaction; a guard against a broken query.
    if (bound.changes !== 1) throw new StoreConflictError(`sandbox ${picked.id} stopped being warm during its claim`)
    if (s.attachToken) this.q.putToken.run({ token_hash: s.attachToken.tokenHash, session_id: s.id, expires_at: s.attachToken.expiresAt })
    this.logs.audit({ at: now, actor: s.actor ?? 'admin', keyId: s.keyId ?? null, action: 'session.create', target: s.id, details: { user: s.user, pool: s.pool, warm } })
    this.logs.event({ at: now, type: 'session.created', pool: s.pool, user: s.user, sessionId: s.id, data: { warm, labels } })
    // The records as written, built here rather than read back: two queries fewer on the claim path
    // (the contract suite checks they equal what getSession and getSandbox return).
    return {
      session: newSessionRecord(s, picked.id, warm, network),
      sandbox: toSandbox({ ...picked, state: 'claimed', session_id: s.id, claimed_at: now }),
    }
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const row = this.q.getSession.get(id) as SessionRow | undefined
    return row ? toSession(row) : undefined
  }

  async listSessions(filter: SessionListFilter = {}): Promise<SessionRecord[]> {
    return listSessionRows(this.db, filter).map(toSession)
  }

  async countOpenSessions(by: { user?: string; keyId?: string }): Promise<number> {
    return this.admission.countOpen(by)
  }

  async checkAdmission(session: NewSession, now: number): Promise<void> {
    this.admission.check(session, now, false)
  }

  async markSessionRunning(id: string, timings: Record<string, number>, now: number): Promise<void> {
    if (this.runningTx.immediate(id, timings, now)) this.eventsAppended()
  }

  private running(id: string, timings: Record<string, number>, now: number): boolean {
    const s = this.q.markRunning.get({ id, timings: JSON.stringify(timings) }) as Pick<SessionRow, 'pool' | 'user'> | undefined
    if (!s) return false
    this.logs.event({ at: now, type: 'session.running', pool: s.pool, user: s.user, sessionId: id, data: {} })
    return true
  }

  async setSessionExpiry(id: string, expiresAt: number | null): Promise<boolean> {
    return this.q.setExpiry.run({ id, expires_at: expiresAt }).changes === 1
  }

  async recordSessionActivity(activity: readonly { readonly id: string; readonly at: number }[]): Promise<void> {
    this.activityTx.immediate(activity)
  }

  async getSessionTimers(ids: readonly string[]): Promise<SessionTimers[]> {
    const timers: SessionTimers[] = []
    for (const id of ids) {
      const r = this.q.getTimers.get(id) as { expires_at: number | null; last_active_at: number | null; warned_for: number | null } | undefined
      if (r) timers.push({ id, expiresAt: r.expires_at, lastActiveAt: r.last_active_at, warnedFor: r.warned_for })
    }
    return timers
  }

  async markSessionWarned(id: string, deadline: number): Promise<boolean> {
    return this.q.markWarned.run({ id, deadline }).changes === 1
  }

  async purgeEndedSessions(before: number): Promise<number> {
    return this.q.purgeEnded.run(before).changes
  }

  async markSessionTimings(id: string, timings: Record<string, number>): Promise<void> {
    this.q.markTimings.run({ id, timings: JSON.stringify(timings) })
  }

  async setSessionNetwork(id: string, policy: NetworkPolicy): Promise<boolean> {
    return this.q.setNetwork.run({ id, network: JSON.stringify(policy) }).changes === 1
  }

  async getSessionCredentials(id: string): Promise<string | undefined> {
    const row = this.q.getCredentials.get(id) as { credentials: string | null } | undefined
    return row?.credentials ?? undefined
  }

  async endSession(id: string, reason: EndedReason, now: number, by?: { readonly actor: string; readonly keyId: string | null }): Promise<boolean> {
    const ended = this.endTx.immediate(id, reason, now, by ?? { actor: 'system', keyId: null })
    if (ended) this.eventsAppended()
    return ended
  }

  private end(id: string, reason: EndedReason, now: number, by: { readonly actor: string; readonly keyId: string | null }): boolean {
    if (this.q.endSession.run({ id, reason, now, ended_by: by.actor }).changes !== 1) return false
    const s = this.q.getSession.get(id) as SessionRow
    this.logs.audit({ at: now, actor: by.actor, keyId: by.keyId, action: 'session.end', target: id, details: { reason } })
    this.logs.event({ at: now, type: 'session.ended', pool: s.pool, user: s.user, sessionId: id, data: { reason, endedBy: by.actor } })
    return true
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
    this.keys.insert(key)
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
    this.logs.audit(entry)
  }

  async listAudit(filter: { since?: number; afterId?: number; limit: number }): Promise<AuditEntry[]> {
    return this.logs.listAudit(filter)
  }

  async appendEvent(event: NewEvent): Promise<number> {
    const id = this.logs.event(event)
    this.eventsAppended()
    return id
  }

  async listEvents(afterId: number, limit: number): Promise<EventRecord[]> {
    return this.logs.listEvents(afterId, limit)
  }

  async purgeEvents(before: number): Promise<number> {
    return this.logs.purgeEvents(before)
  }

  async lastEventId(): Promise<number> {
    return this.logs.lastEventId()
  }

  watchEvents(listener: () => void): () => void {
    const once = () => listener()
    this.eventWatchers.add(once)
    return () => this.eventWatchers.delete(once)
  }

  /** One process on its file: there is nobody else's notification to hear. */
  setEventDemand(_wanted: () => boolean): void {}

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
    this.webhooks.insert(webhook)
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
    this.q.putToken.run({ token_hash: token.tokenHash, session_id: token.sessionId, expires_at: token.expiresAt })
  }

  async getAttachToken(tokenHash: string): Promise<AttachTokenRecord | undefined> {
    const row = this.q.getToken.get(tokenHash) as { token_hash: string; session_id: string; expires_at: number } | undefined
    return row ? { tokenHash: row.token_hash, sessionId: row.session_id, expiresAt: row.expires_at } : undefined
  }

  async getAttachTokenSession(tokenHash: string): Promise<{ token: AttachTokenRecord; session: SessionRecord | undefined } | undefined> {
    const row = this.q.getTokenSession.get(tokenHash) as TokenSessionRow | undefined
    return row ? toTokenSession(tokenHash, row) : undefined
  }

  async deleteExpiredAttachTokens(now: number): Promise<number> {
    return this.q.deleteExpiredTokens.run(now).changes
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

  /** What the checkpoint worker last did (undefined: nothing yet, or no worker). */
  get lastCheckpoint() {
    return this.checkpointer?.last
  }

  async close(): Promise<void> {
    await this.checkpointer?.close()
    if (this.db.open) this.db.close()
  }
}

function prepare(db: Database.Database) {
  return {
    upsertPool: db.prepare(`INSERT INTO pools (name, spec, updated_at) VALUES (@name, @spec, @updated_at)
      ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at`),
    getPool: db.prepare('SELECT spec FROM pools WHERE name = ?'),
    listPools: db.prepare('SELECT spec FROM pools ORDER BY name'),
    deletePool: db.prepare('DELETE FROM pools WHERE name = ?'),

    insertSandbox: db.prepare(`INSERT INTO sandboxes (id, pool, state, created_at) VALUES (@id, @pool, 'starting', @created_at)`),
    insertWithin: db.prepare(`INSERT INTO sandboxes (id, pool, state, created_at) SELECT @id, @pool, 'starting', @created_at
      WHERE (SELECT COUNT(*) FROM sandboxes WHERE pool = @pool AND state <> 'destroying') < @max_size`),
    markWarm: db.prepare(`UPDATE sandboxes SET state = 'warm', handle = @handle, ready_at = @ready_at
      WHERE id = @id AND state = 'starting'`),
    markDestroying: db.prepare(`UPDATE sandboxes SET state = 'destroying' WHERE id = ?`),
    retireWarm: db.prepare(`UPDATE sandboxes SET state = 'destroying' WHERE id = ? AND state = 'warm'`),
    deleteSandbox: db.prepare('DELETE FROM sandboxes WHERE id = ?'),
    getSandbox: db.prepare('SELECT * FROM sandboxes WHERE id = ?'),
    listSandboxes: db.prepare(`SELECT * FROM sandboxes WHERE (@pool IS NULL OR pool = @pool) AND (@state IS NULL OR state = @state)
      ORDER BY created_at, id`),
    countSandboxes: db.prepare('SELECT state, COUNT(*) AS n FROM sandboxes WHERE pool = ? GROUP BY state'),
    oldestWarm: db.prepare(`SELECT * FROM sandboxes WHERE pool = ? AND state = 'warm' ORDER BY created_at, id LIMIT 1`),
    warmById: db.prepare(`SELECT * FROM sandboxes WHERE id = ? AND pool = ? AND state = 'warm'`),
    bindSandbox: db.prepare(`UPDATE sandboxes SET state = 'claimed', session_id = @session_id, claimed_at = @claimed_at
      WHERE id = @id AND state = 'warm'`),

    insertSession: db.prepare(`INSERT INTO sessions (id, user, pool, sandbox_id, state, warm, created_at, env_names, network, credentials,
        key_id, labels, expires_at, idle_timeout_s)
      VALUES (@id, @user, @pool, @sandbox_id, 'starting', @warm, @created_at, @env_names, @network, @credentials,
        @key_id, @labels, @expires_at, @idle_timeout_s)`),
    insertLabel: db.prepare('INSERT INTO session_labels (session_id, key, value) VALUES (@session_id, @key, @value)'),
    setExpiry: db.prepare(`UPDATE sessions SET expires_at = @expires_at WHERE id = @id AND state <> 'ended'`),
    recordActivity: db.prepare(`UPDATE sessions SET last_active_at = @at
      WHERE id = @id AND state <> 'ended' AND (last_active_at IS NULL OR last_active_at < @at)`),
    getTimers: db.prepare(`SELECT expires_at, last_active_at, warned_for FROM sessions WHERE id = ? AND state <> 'ended'`),
    markWarned: db.prepare(`UPDATE sessions SET warned_for = @deadline WHERE id = @id AND state <> 'ended' AND warned_for IS NOT @deadline`),
    purgeEnded: db.prepare(`DELETE FROM sessions WHERE ended_at < ?`),
    setNetwork: db.prepare(`UPDATE sessions SET network = @network WHERE id = @id AND state <> 'ended'`),
    getCredentials: db.prepare('SELECT credentials FROM sessions WHERE id = ?'),
    getSession: db.prepare('SELECT * FROM sessions WHERE id = ?'),
    markTimings: db.prepare(`UPDATE sessions SET timings = @timings WHERE id = @id`),
    markRunning: db.prepare(`UPDATE sessions SET state = 'running', timings = @timings WHERE id = @id AND state = 'starting' RETURNING pool, user`),
    // An ended session's credentials are dropped at once: nothing can use them any more.
    endSession: db.prepare(`UPDATE sessions SET state = 'ended', ended_at = @now, ended_reason = @reason, ended_by = @ended_by, credentials = NULL
      WHERE id = @id AND state <> 'ended'`),

    putToken: db.prepare(`INSERT INTO attach_tokens (token_hash, session_id, expires_at) VALUES (@token_hash, @session_id, @expires_at)
      ON CONFLICT (token_hash) DO UPDATE SET session_id = excluded.session_id, expires_at = excluded.expires_at`),
    getToken: db.prepare('SELECT * FROM attach_tokens WHERE token_hash = ?'),
    getTokenSession: db.prepare('SELECT t.session_id AS token_session_id, t.expires_at AS token_expires_at, s.* FROM attach_tokens t LEFT JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = ?'),
    deleteExpiredTokens: db.prepare('DELETE FROM attach_tokens WHERE expires_at <= ?'),
  }
}
