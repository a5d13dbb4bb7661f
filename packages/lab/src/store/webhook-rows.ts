import { toEvent, type EventRow } from './log-rows.ts'
import type { DueDelivery, EventType, WebhookSummary } from './types.ts'

/** A webhook with its last attempt and pending count, as the SQL stores' list query returns it. */
export interface WebhookRow {
  id: string; url: string; events: string; secret: string; created_at: number; created_by: string
  last_attempt_at: number | null; last_status: number | null; last_error: string | null; pending: number
}

/** A due delivery joined with its webhook and (if the log still has it) its event, columns `e_*`. */
export type DueRow = {
  id: string; webhook_id: string; url: string; secret: string; attempts: number; event_at: number; event_id: number
} & { [K in keyof EventRow as `e_${K}`]: EventRow[K] | null }

export function toWebhookSummary(r: WebhookRow): WebhookSummary {
  return {
    id: r.id, url: r.url, events: JSON.parse(r.events) as EventType[], sealedSecret: r.secret, createdAt: r.created_at, createdBy: r.created_by,
    lastAttemptAt: r.last_attempt_at, lastStatus: r.last_status, lastError: r.last_error, pending: r.pending,
  }
}

export function toDue(r: DueRow): DueDelivery {
  const event = r.e_id === null ? undefined
    : toEvent({ id: r.e_id, at: r.e_at!, type: r.e_type!, pool: r.e_pool, user: r.e_user, session_id: r.e_session_id, data: r.e_data! })
  return { id: r.id, webhookId: r.webhook_id, url: r.url, sealedSecret: r.secret, attempts: r.attempts, eventAt: r.event_at, event }
}
