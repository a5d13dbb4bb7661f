import type { FastifyRequest } from 'fastify'
import { SESSION_ROUTE } from './session-scope.ts'

/**
 * The /v1 scope's preHandler after requireSessionScope: any call on a session (exec, files,
 * attach, keepalive, network, and routes added later under `/v1/sessions/:id`) is activity that
 * keeps it from going idle. Reading its record (`GET /v1/sessions/:id`) is not: a dashboard
 * polling a session must not keep it alive. Only a call the scope check let through counts.
 */
export function touchSessionActivity(touch: (sessionId: string) => void): (req: FastifyRequest) => Promise<void> {
  return async (req) => {
    const session = req.scopedSession
    if (!session) return
    const readsRecord = (req.method === 'GET' || req.method === 'HEAD') && req.routeOptions.url === SESSION_ROUTE
    if (!readsRecord) touch(session.id)
  }
}
