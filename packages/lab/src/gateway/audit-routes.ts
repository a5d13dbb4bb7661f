import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { AUDIT_ACTIONS, type Store } from '../store/types.ts'
import { decodeCursor, encodeCursor } from './cursor.ts'
import type { ZodTypeProvider } from './route-schema.ts'
import { MAX_PAGE } from './schemas.ts'

export const auditQuery = z.object({
  since: z.iso.datetime({ offset: true }).optional().describe('ISO 8601: entries at or after it'),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
  cursor: z.string().max(200).optional().describe('`nextCursor` of the page before'),
}).strict()

const auditEntrySchema = z.object({
  id: z.number(),
  at: z.string(),
  actor: z.string().describe('the name of the key that acted (`admin`, a scoped key, or `system`)'),
  keyId: z.string().optional(),
  action: z.enum(AUDIT_ACTIONS),
  target: z.string().describe('the session, key or webhook acted on'),
  details: z.record(z.string(), z.unknown()),
})

/** The audit log (admin only): creates, ends, key, webhook and policy changes, oldest first. */
export function registerAuditRoutes(scope: FastifyInstance, deps: { readonly store: Store }): void {
  scope.withTypeProvider<ZodTypeProvider>().get('/audit', {
    config: { auth: 'admin' },
    schema: {
      summary: 'The audit log, oldest first, a page at a time (admin only)', querystring: auditQuery,
      responses: { 200: { description: 'OK', schema: z.object({ entries: z.array(auditEntrySchema), nextCursor: z.string().optional() }) } },
      errors: ['forbidden'],
    },
  }, async (req) => {
    const { since, limit, cursor } = req.query
    const afterId = cursor === undefined ? undefined : decodeCursor(cursor, ['number'] as const)[0]
    const entries = await deps.store.listAudit({ ...(since ? { since: Date.parse(since) } : {}), ...(afterId !== undefined ? { afterId } : {}), limit })
    const last = entries.length === limit ? entries[entries.length - 1] : undefined
    return {
      entries: entries.map((e) => ({ id: e.id, at: new Date(e.at).toISOString(), actor: e.actor, ...(e.keyId ? { keyId: e.keyId } : {}), action: e.action, target: e.target, details: e.details })),
      ...(last ? { nextCursor: encodeCursor([last.id]) } : {}),
    }
  })
}
