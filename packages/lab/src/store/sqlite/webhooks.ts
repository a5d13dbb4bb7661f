import type Database from 'better-sqlite3'
import type { DeliveryAttempt, DueDelivery, WebhookRecord, WebhookSummary } from '../types.ts'
import { toDue, toWebhookSummary, type DueRow, type WebhookRow } from '../webhook-rows.ts'

/**
 * Webhooks and their deliveries. Deliveries are rows with their own retry state; the cursor row
 * says how far the event log has been handed to webhooks. Both advance in IMMEDIATE
 * transactions, so processes sharing the file never hand an event out twice.
 */
export class SqliteWebhooks {
  private readonly q
  private readonly enqueueTx: Database.Transaction<(limit: number, now: number) => number>
  private readonly claimTx: Database.Transaction<(now: number, limit: number, leaseMs: number) => DueDelivery[]>

  constructor(db: Database.Database) {
    this.q = {
      insert: db.prepare(`INSERT INTO webhooks (id, url, events, secret, created_at, created_by, after_event_id)
        VALUES (@id, @url, @events, @secret, @created_at, @created_by, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0))`),
      list: db.prepare(`SELECT w.*, d.last_attempt_at, d.last_status, d.last_error,
          (SELECT COUNT(*) FROM webhook_deliveries p WHERE p.webhook_id = w.id AND p.state = 'pending') AS pending
        FROM webhooks w
        LEFT JOIN webhook_deliveries d ON d.id = (
          SELECT id FROM webhook_deliveries WHERE webhook_id = w.id AND last_attempt_at IS NOT NULL ORDER BY last_attempt_at DESC LIMIT 1)
        ORDER BY w.created_at, w.id`),
      delete: db.prepare('DELETE FROM webhooks WHERE id = ?'),
      cursor: db.prepare('SELECT last_event_id FROM webhook_cursor WHERE id = 1'),
      next: db.prepare('SELECT MAX(id) AS upto, COUNT(*) AS n FROM (SELECT id FROM events WHERE id > ? ORDER BY id LIMIT ?)'),
      // one row per (event, webhook that wants its type and was there before it)
      enqueue: db.prepare(`INSERT OR IGNORE INTO webhook_deliveries (id, webhook_id, event_id, event_at, state, next_attempt_at)
        SELECT 'dlv-' || lower(hex(randomblob(10))), w.id, e.id, e.at, 'pending', @now
        FROM events e JOIN webhooks w ON e.id > w.after_event_id AND EXISTS (SELECT 1 FROM json_each(w.events) WHERE value = e.type)
        WHERE e.id > @from AND e.id <= @upto`),
      moveCursor: db.prepare('UPDATE webhook_cursor SET last_event_id = ? WHERE id = 1'),
      anyWebhook: db.prepare('SELECT EXISTS (SELECT 1 FROM webhooks) AS x'),
      anyDue: db.prepare(`SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ?) AS x`),
      due: db.prepare(`SELECT d.id, d.webhook_id, w.url, w.secret, d.attempts, d.event_at, d.event_id,
          e.id AS e_id, e.at AS e_at, e.type AS e_type, e.pool AS e_pool, e.user AS e_user, e.session_id AS e_session_id, e.data AS e_data
        FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id LEFT JOIN events e ON e.id = d.event_id
        WHERE d.state = 'pending' AND d.next_attempt_at <= @now ORDER BY d.next_attempt_at, d.id LIMIT @limit`),
      lease: db.prepare('UPDATE webhook_deliveries SET next_attempt_at = @until WHERE id = @id'),
      record: db.prepare(`UPDATE webhook_deliveries SET attempts = attempts + 1, state = @state, next_attempt_at = @next,
          last_attempt_at = @at, last_status = @status, last_error = @error
        WHERE id = @id`),
      purge: db.prepare(`DELETE FROM webhook_deliveries WHERE state <> 'pending' AND event_at < ?`),
    }
    this.enqueueTx = db.transaction((limit: number, now: number) => {
      const from = (this.q.cursor.get() as { last_event_id: number }).last_event_id
      const { upto, n } = this.q.next.get(from, limit) as { upto: number | null; n: number }
      if (upto === null) return 0
      this.q.enqueue.run({ now, from, upto })
      this.q.moveCursor.run(upto)
      return n
    })
    this.claimTx = db.transaction((now: number, limit: number, leaseMs: number) => {
      const rows = this.q.due.all({ now, limit }) as DueRow[]
      for (const r of rows) this.q.lease.run({ id: r.id, until: now + leaseMs })
      return rows.map(toDue)
    })
  }

  insert(w: WebhookRecord): void {
    this.q.insert.run({ id: w.id, url: w.url, events: JSON.stringify(w.events), secret: w.sealedSecret, created_at: w.createdAt, created_by: w.createdBy })
  }

  list(): WebhookSummary[] {
    return (this.q.list.all() as WebhookRow[]).map(toWebhookSummary)
  }

  delete(id: string): boolean {
    return this.q.delete.run(id).changes === 1
  }

  // Each event wakes the delivery worker: without a webhook, or with nothing due, a read answers
  // and no write transaction is taken (the file's one writer stays free for claims). With no
  // webhook the cursor may lag: a webhook gets only events after its own creation anyway.
  enqueue(limit: number, now: number): number {
    if (!this.any()) return 0
    return this.enqueueTx.immediate(limit, now)
  }

  any(): boolean {
    return (this.q.anyWebhook.get() as { x: number }).x === 1
  }

  claimDue(now: number, limit: number, leaseMs: number): DueDelivery[] {
    if ((this.q.anyDue.get(now) as { x: number }).x === 0) return []
    return this.claimTx.immediate(now, limit, leaseMs)
  }

  record(id: string, a: DeliveryAttempt): boolean {
    return this.q.record.run({ id, state: a.state, next: a.nextAttemptAt, at: a.at, status: a.status, error: a.error }).changes === 1
  }

  purge(before: number): number {
    return this.q.purge.run(before).changes
  }
}

