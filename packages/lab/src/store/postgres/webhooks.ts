import type { DeliveryAttempt, DueDelivery, WebhookRecord, WebhookSummary } from '../types.ts'
import { toDue, toWebhookSummary, type DueRow, type WebhookRow } from '../webhook-rows.ts'
import type { PgDb } from './db.ts'

/**
 * Webhooks and their deliveries. The cursor row is taken FOR UPDATE while the event log is handed
 * out, so replicas never hand an event out twice; due deliveries are leased with FOR UPDATE SKIP
 * LOCKED, so two workers never take the same one.
 */
export class PgWebhooks {
  constructor(private readonly db: PgDb) {}

  async insert(w: WebhookRecord): Promise<void> {
    await this.db.query(`INSERT INTO webhooks (id, url, events, secret, created_at, created_by, after_event_id)
      VALUES ($1, $2, $3, $4, $5, $6, (SELECT last_event_id FROM log_sequence WHERE id = 1))`,
    [w.id, w.url, JSON.stringify(w.events), w.sealedSecret, w.createdAt, w.createdBy])
  }

  async list(): Promise<WebhookSummary[]> {
    const { rows } = await this.db.query<WebhookRow>(`SELECT w.*, d.last_attempt_at, d.last_status, d.last_error,
        (SELECT COUNT(*) FROM webhook_deliveries p WHERE p.webhook_id = w.id AND p.state = 'pending') AS pending
      FROM webhooks w
      LEFT JOIN webhook_deliveries d ON d.id = (
        SELECT id FROM webhook_deliveries WHERE webhook_id = w.id AND last_attempt_at IS NOT NULL ORDER BY last_attempt_at DESC LIMIT 1)
      ORDER BY w.created_at, w.id`)
    return rows.map(toWebhookSummary)
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM webhooks WHERE id = $1', [id])).rowCount === 1
  }

  async any(): Promise<boolean> {
    return (await this.db.query<{ x: boolean }>('SELECT EXISTS (SELECT 1 FROM webhooks) AS x')).rows[0]!.x
  }

  // Each event wakes the delivery worker: without a webhook a read answers and no transaction
  // takes the cursor. With no webhook the cursor may lag: a webhook gets only events after its
  // own creation anyway.
  async enqueue(limit: number, now: number): Promise<number> {
    if (!(await this.any())) return 0
    return this.db.tx(async (sql) => {
      const from = (await sql.query<{ last_event_id: number }>('SELECT last_event_id FROM webhook_cursor WHERE id = 1 FOR UPDATE')).rows[0]!.last_event_id
      const { rows: [next] } = await sql.query<{ upto: number | null; n: number }>(
        'SELECT MAX(id) AS upto, COUNT(*) AS n FROM (SELECT id FROM events WHERE id > $1 ORDER BY id LIMIT $2) e', [from, limit])
      if (next!.upto === null) return 0
      // one row per (event, webhook that wants its type and was there before it)
      await sql.query(`INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_at, state, next_attempt_at)
        SELECT 'dlv-' || left(replace(gen_random_uuid()::text, '-', ''), 20), w.id, e.id, e.at, 'pending', $3
        FROM events e JOIN webhooks w ON e.id > w.after_event_id AND w.events ? e.type
        WHERE e.id > $1 AND e.id <= $2
        ON CONFLICT (webhook_id, event_id) DO NOTHING`, [from, next!.upto, now])
      await sql.query('UPDATE webhook_cursor SET last_event_id = $1 WHERE id = 1', [next!.upto])
      return next!.n
    })
  }

  async claimDue(now: number, limit: number, leaseMs: number): Promise<DueDelivery[]> {
    const { rows } = await this.db.query<DueRow & { due_at: number }>(`WITH due AS (
        SELECT id, next_attempt_at FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= $1
        ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED),
      leased AS (
        UPDATE webhook_deliveries d SET next_attempt_at = $3 FROM due WHERE d.id = due.id
        RETURNING d.id, d.webhook_id, d.attempts, d.event_at, d.event_id, due.next_attempt_at AS due_at)
      SELECT l.*, w.url, w.secret,
        e.id AS e_id, e.at AS e_at, e.type AS e_type, e.pool AS e_pool, e."user" AS e_user, e.session_id AS e_session_id, e.data AS e_data
      FROM leased l JOIN webhooks w ON w.id = l.webhook_id LEFT JOIN events e ON e.id = l.event_id
      ORDER BY l.due_at, l.id`, [now, limit, now + leaseMs])
    return rows.map(toDue)
  }

  async record(id: string, a: DeliveryAttempt): Promise<boolean> {
    const r = await this.db.query(`UPDATE webhook_deliveries SET attempts = attempts + 1, state = $2, next_attempt_at = $3,
        last_attempt_at = $4, last_status = $5, last_error = $6
      WHERE id = $1`, [id, a.state, a.nextAttemptAt, a.at, a.status, a.error])
    return r.rowCount === 1
  }

  async purge(before: number): Promise<number> {
    return (await this.db.query(`DELETE FROM webhook_deliveries WHERE state <> 'pending' AND event_at < $1`, [before])).rowCount ?? 0
  }
}
