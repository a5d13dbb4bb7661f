import type Database from 'better-sqlite3'
import { toAudit, toEvent, type AuditRow, type EventRow } from '../log-rows.ts'
import type { AuditEntry, EventRecord, NewAuditEntry, NewEvent } from '../types.ts'

/** The audit log and the event log: append-only tables whose ids only grow (AUTOINCREMENT). */
export class SqliteLogs {
  private readonly q

  constructor(db: Database.Database) {
    this.q = {
      audit: db.prepare(`INSERT INTO audit (at, actor, key_id, action, target, details) VALUES (@at, @actor, @key_id, @action, @target, @details)`),
      listAudit: db.prepare(`SELECT * FROM audit WHERE at >= @since AND id > @after ORDER BY id LIMIT @limit`),
      event: db.prepare(`INSERT INTO events (at, type, pool, user, session_id, data) VALUES (@at, @type, @pool, @user, @session_id, @data)`),
      listEvents: db.prepare('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?'),
      // in id order from the oldest: the events before the first one still to keep (no index on time)
      purgeEvents: db.prepare(`DELETE FROM events WHERE id < COALESCE(
        (SELECT id FROM events WHERE at >= ? ORDER BY id LIMIT 1), (SELECT MAX(id) + 1 FROM events), 0)`),
      // the sequence, not MAX(id): the last id given out even when the purge took every event
      lastEvent: db.prepare(`SELECT seq AS id FROM sqlite_sequence WHERE name = 'events'`),
    }
  }

  audit(e: NewAuditEntry): void {
    this.q.audit.run({ at: e.at, actor: e.actor, key_id: e.keyId, action: e.action, target: e.target, details: JSON.stringify(e.details) })
  }

  listAudit(f: { since?: number; afterId?: number; limit: number }): AuditEntry[] {
    const rows = this.q.listAudit.all({ since: f.since ?? 0, after: f.afterId ?? 0, limit: f.limit }) as AuditRow[]
    return rows.map(toAudit)
  }

  event(e: NewEvent): number {
    const r = this.q.event.run({ at: e.at, type: e.type, pool: e.pool, user: e.user, session_id: e.sessionId, data: JSON.stringify(e.data) })
    return Number(r.lastInsertRowid)
  }

  listEvents(afterId: number, limit: number): EventRecord[] {
    return (this.q.listEvents.all(afterId, limit) as EventRow[]).map(toEvent)
  }

  lastEventId(): number {
    return (this.q.lastEvent.get() as { id: number } | undefined)?.id ?? 0
  }

  purgeEvents(before: number): number {
    return this.q.purgeEvents.run(before).changes
  }
}

