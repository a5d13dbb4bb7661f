import type { FastifyRequest } from 'fastify'
import type { SessionRecord } from '../store/types.ts'
import { ApiError } from './errors.ts'
import { covers, principalOf } from './principal.ts'
import { sessionIdParams } from './schemas.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The session of a `/v1/sessions/:id...` route, loaded and checked against the caller's scope. */
    scopedSession?: SessionRecord
  }
}

export const SESSION_ROUTE = '/v1/sessions/:id'

/** Whether a route acts on one session: decided by its registered path, never by the URL asked. */
export function isSessionRoute(routeUrl: string | undefined): boolean {
  return routeUrl === SESSION_ROUTE || (routeUrl?.startsWith(`${SESSION_ROUTE}/`) ?? false)
}

export interface SessionScopeDeps {
  readonly get: (id: string) => Promise<SessionRecord | undefined>
}

/**
 * The /v1 scope's preValidation hook: every keyed route under `/v1/sessions/:id` gets its session
 * here, and a session outside the caller's scope does not exist for it (`404 session_not_found`,
 * the answer for an unknown id, so nothing leaks). It runs before the body and query are validated,
 * so what a caller sends cannot tell it more about a session it may not see than an unknown id
 * would; a malformed id is left to validation (its 400 depends on the id's spelling alone). Routes
 * added later under that path are covered without naming them.
 */
export function requireSessionScope(deps: SessionScopeDeps): (req: FastifyRequest) => Promise<void> {
  return async (req) => {
    if (!isSessionRoute(req.routeOptions.url) || req.routeOptions.config.auth === 'attachToken') return
    const id = (req.params as { id?: unknown }).id
    if (typeof id !== 'string') throw new Error(`route ${req.routeOptions.url} has no :id parameter`)
    if (!sessionIdParams.shape.id.safeParse(id).success) return
    const session = await deps.get(id)
    if (!session || !covers(principalOf(req), session)) throw new ApiError('session_not_found', `no session with id ${id}`)
    req.scopedSession = session
  }
}
