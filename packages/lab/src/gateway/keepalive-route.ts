import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from './route-schema.ts'
import { keepaliveBody, sessionIdParams, sessionSchema } from './schemas.ts'
import type { SessionService } from './sessions.ts'

/**
 * `POST /v1/sessions/{id}/keepalive`: the call resets the session's idleness (as any call on it
 * does, session-activity.ts) and may move its end of life. Scoped like every session route.
 */
export function registerKeepaliveRoute(scope: FastifyInstance, sessions: SessionService): void {
  scope.withTypeProvider<ZodTypeProvider>().post('/sessions/:id/keepalive', {
    schema: {
      summary: 'Keep a session alive: resets its idle timeout; with `timeoutS`, it ends with `max_lifetime` that many seconds from now',
      params: sessionIdParams, body: keepaliveBody,
      responses: { 200: { description: 'The session, with its new `expiresAt` and `idleExpiresAt`', schema: sessionSchema } },
      errors: ['session_not_found', 'session_ended', 'invalid_json', 'body_too_large', 'unsupported_media_type'],
    },
  }, async (req) => sessions.keepalive(req.params.id, req.body?.timeoutS))
}
