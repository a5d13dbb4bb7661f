import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { Clock } from '../clock/clock.ts'
import { EVENT_TYPES, type EventType } from '../store/types.ts'
import type { EventBus } from './event-bus.ts'
import { eventSchema, eventView, eventVisibleTo } from './event-view.ts'
import { principalOf } from './principal.ts'
import { resolvePrincipal, type KeyResolver } from './route-auth.ts'
import type { ZodTypeProvider } from './route-schema.ts'
import type { OpenStreams } from './shutdown.ts'
import { SSE_HEARTBEAT_MS, openEventStream, sseFrame, writeFrame } from './sse.ts'

const eventId = z.string().regex(/^\d{1,15}$/, 'is an event id (digits)').transform(Number)

export const eventsQuery = z.object({
  types: z.string().max(200).optional()
    .transform((s, ctx) => {
      if (s === undefined) return undefined
      const list = s.split(',').map((t) => t.trim()).filter((t) => t !== '')
      const unknown = list.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t))
      if (unknown.length > 0 || list.length === 0) {
        ctx.addIssue({ code: 'custom', message: `is a comma-separated list of ${EVENT_TYPES.join(', ')}${unknown.length ? ` (not ${unknown.join(', ')})` : ''}` })
        return z.NEVER
      }
      return new Set(list as EventType[])
    })
    .describe(`only these types, comma-separated: ${EVENT_TYPES.join(', ')}`),
  since: eventId.optional().describe('replay the events after this id first (the `Last-Event-ID` header wins)'),
}).strict()

export const eventsHeaders = z.looseObject({
  'last-event-id': eventId.optional().describe('the last event id the client saw: the events after it (kept 24 h) are replayed first'),
})

export interface EventsRouteDeps {
  readonly bus: EventBus
  readonly keys: KeyResolver
  readonly clock: Clock
  readonly streams: OpenStreams
}

/**
 * GET /v1/events: the event log as server-sent events, scoped to what the caller's key covers.
 * A client that resumes with `Last-Event-ID` gets every event after it that the log keeps, then
 * the live ones, with no gap and no duplicate. A key revoked, rotated or expired while its stream
 * is open loses the stream at the next heartbeat.
 */
export function registerEventsRoute(scope: FastifyInstance, deps: EventsRouteDeps): void {
  scope.withTypeProvider<ZodTypeProvider>().get('/events', {
    schema: {
      summary: "Server-sent events: session.created, session.running, session.expiring, session.ended, pool.status (a scoped key gets only its users' and pools')",
      description: 'Each event is `id: <id>`, `event: <type>`, `data: <JSON>`; resume with `Last-Event-ID` (events are kept 24 h).',
      querystring: eventsQuery, headers: eventsHeaders,
      responses: { 200: { description: 'An event stream that stays open; the schema is each event\'s `data`', media: 'text/event-stream', schema: eventSchema } },
      errors: ['quota_exceeded'],
    },
  }, async (req, reply) => {
    const caller = principalOf(req)
    const types = req.query.types
    const afterId = req.headers['last-event-id'] ?? req.query.since
    const sub = deps.bus.subscribe({
      owner: caller.keyId ?? 'admin',
      ...(afterId !== undefined ? { afterId } : {}),
      accept: (e) => (types === undefined || types.has(e.type)) && eventVisibleTo(caller, e),
      // cut off because it fell behind: a client that stopped reading would never take an end
      onEnd: (why) => {
        if (why === 'overflow') res.destroy()
      },
    })
    const res = openEventStream(reply, deps.streams)
    res.write(': open\n\n')
    res.once('close', () => sub.close())

    // a comment keeps proxies from closing a quiet stream; the caller's key is checked again then
    let cancel = (): void => undefined
    const beat = (): void => {
      cancel = deps.clock.setTimer(SSE_HEARTBEAT_MS, () => {
        resolvePrincipal(req.headers.authorization, deps.keys).then(() => {
          if (res.destroyed) return
          res.write(': keep-alive\n\n')
          beat()
        }, () => sub.close())
      })
    }
    beat()
    try {
      for await (const e of sub) {
        if (!(await writeFrame(res, sseFrame(e.type, JSON.stringify(eventView(e)), e.id)))) break
      }
    } finally {
      cancel()
      sub.close()
      if (!res.destroyed) res.end()
    }
  })
}
