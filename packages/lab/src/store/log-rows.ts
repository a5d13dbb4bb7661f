import type { AuditAction, AuditEntry, EventRecord, EventType } from './types.ts'

/** Rows of the audit and event logs as the SQL stores return them (details and data as JSON text). */
export interface AuditRow { id: number; at: number; actor: string; key_id: string | null; action: AuditAction; target: string; details: string }
export interface EventRow { id: number; at: number; type: EventType; pool: string | null; user: string | null; session_id: string | null; data: string }

export function toAudit(r: AuditRow): AuditEntry {
  return { id: r.id, at: r.at, actor: r.actor, keyId: r.key_id, action: r.action, target: r.target, details: JSON.parse(r.details) as Record<string, unknown> }
}

export function toEvent(r: EventRow): EventRecord {
  return { id: r.id, at: r.at, type: r.type, pool: r.pool, user: r.user, sessionId: r.session_id, data: JSON.parse(r.data) as Record<string, unknown> }
}
