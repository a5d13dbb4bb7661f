import { toAudit, toEvent, type AuditRow, type EventRow } from '../log-rows.ts'
import type { AuditEntry, EventRecord, NewAuditEntry, NewEvent } from '../types.ts'
import { prepared, type Sql } from './db.ts'
import { EVENTS_CHANNEL } from './listener.ts'

/**
 * The audit log and the event log. Every write to them first takes the one `log_sequence` row
 * (an UPDATE for an event, which also gives its id; FOR UPDATE for an audit entry alone), which it
 * holds until its transaction commits: log writers commit one at a time, so ids are handed out
 * in commit order and a reader paging by id (the event bus, a webhook cursor, an audit page)
 * never passes over an entry that commits after a newer one. An event's write also notifies
 * EVENTS_CHANNEL with the writer's id, delivered to other stores when it commits.
 */
export async function appendLogs(sql: Sql, e: { audit?: NewAuditEntry; event?: NewEvent }, writer: string): Promise<number | undefined> {
  const args: unknown[] = []
  const $ = (v: unknown) => `$${args.push(v)}`
  const audit = (a: NewAuditEntry) => `INSERT INTO audit (at, actor, key_id, action, target, details)
    SELECT ${$(a.at)}::bigint, ${$(a.actor)}, ${$(a.keyId)}, ${$(a.action)}, ${$(a.target)}, ${$(JSON.stringify(a.details))}::jsonb FROM n`
  if (!e.event) {
    if (e.audit) await sql.query(prepared(`WITH n AS (SELECT last_event_id FROM log_sequence WHERE id = 1 FOR UPDATE) ${audit(e.audit)}`), args)
    return undefined
  }
  const v = e.event
  const { rows } = await sql.query<{ id: number }>(prepared(`WITH n AS (UPDATE log_sequence SET last_event_id = last_event_id + 1 WHERE id = 1 RETURNING last_event_id),
    ${e.audit ? `a AS (${audit(e.audit)}),` : ''}
    e AS (INSERT INTO events (id, at, type, pool, "user", session_id, data)
      SELECT last_event_id, ${$(v.at)}::bigint, ${$(v.type)}, ${$(v.pool)}, ${$(v.user)}, ${$(v.sessionId)}, ${$(JSON.stringify(v.data))}::jsonb FROM n RETURNING id)
    SELECT id, pg_notify('${EVENTS_CHANNEL}', ${$(writer)}) FROM e`), args)
  return rows[0]!.id
}

export async function listAudit(sql: Sql, f: { since?: number; afterId?: number; limit: number }): Promise<AuditEntry[]> {
  const { rows } = await sql.query<AuditRow>('SELECT * FROM audit WHERE at >= $1 AND id > $2 ORDER BY id LIMIT $3', [f.since ?? 0, f.afterId ?? 0, f.limit])
  return rows.map(toAudit)
}

export async function listEvents(sql: Sql, afterId: number, limit: number): Promise<EventRecord[]> {
  const { rows } = await sql.query<EventRow>('SELECT * FROM events WHERE id > $1 ORDER BY id LIMIT $2', [afterId, limit])
  return rows.map(toEvent)
}

/** The last id handed out, even when the purge took every event. */
export async function lastEventId(sql: Sql): Promise<number> {
  const { rows } = await sql.query<{ id: number }>('SELECT last_event_id AS id FROM log_sequence WHERE id = 1')
  return rows[0]?.id ?? 0
}

/** In id order from the oldest: the events before the first one still to keep. */
export async function purgeEvents(sql: Sql, before: number): Promise<number> {
  const r = await sql.query(`DELETE FROM events WHERE id < COALESCE(
    (SELECT id FROM events WHERE at >= $1 ORDER BY id LIMIT 1), (SELECT MAX(id) + 1 FROM events), 0)`, [before])
  return r.rowCount ?? 0
}
