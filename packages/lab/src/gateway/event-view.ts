import { z } from 'zod'
import { EVENT_TYPES, type EventRecord } from '../store/types.ts'
import { covers, type Principal } from './principal.ts'

/** One event as GET /v1/events sends it in `data:` and a webhook receives it as its body. */
export const eventSchema = z.object({
  id: z.number().describe('grows with every event; resume after it with `Last-Event-ID`'),
  type: z.enum(EVENT_TYPES),
  at: z.string().describe('ISO 8601'),
  pool: z.string().optional(),
  user: z.string().optional(),
  sessionId: z.string().optional(),
  data: z.record(z.string(), z.unknown()).describe('session.ended: `reason`, `endedBy`; pool.status: the counts; session.created: `warm`, `labels`'),
})
export type EventView = z.input<typeof eventSchema>

export function eventView(e: EventRecord): EventView {
  return {
    id: e.id, type: e.type, at: new Date(e.at).toISOString(),
    ...(e.pool !== null ? { pool: e.pool } : {}), ...(e.user !== null ? { user: e.user } : {}), ...(e.sessionId !== null ? { sessionId: e.sessionId } : {}),
    data: e.data,
  }
}

/**
 * Whether the caller may see the event: the admin key sees all; a scoped key a session's events
 * when it covers the session's user and pool, a pool's when it covers the pool, and nothing that
 * names no pool.
 */
export function eventVisibleTo(p: Principal, e: EventRecord): boolean {
  if (p.kind === 'admin') return true
  if (e.pool === null) return false
  return covers(p, { pool: e.pool, ...(e.user !== null ? { user: e.user } : {}) })
}
