import type { FastifyRequest } from 'fastify'
import { checkBearer } from './auth.ts'
import { ApiError } from './errors.ts'

/**
 * How a /v1 route authenticates its caller: the API key (what a route that says nothing gets),
 * or an attach token that the route checks itself (only the terminal).
 */
export type RouteAuth = 'apiKey' | 'attachToken'

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth
  }
}

/**
 * Whether a route needs the API key: every route under /v1 (the scope requireRouteAuth guards)
 * unless its config says it checks an attach token itself. /openapi.json reports this per
 * operation, so the security suite's table of keyed operations follows the routes.
 */
export function routeNeedsKey(url: string, auth: RouteAuth | undefined): boolean {
  return url.startsWith('/v1/') && auth !== 'attachToken'
}

/**
 * The /v1 scope's onRequest hook. Fastify runs it only once a route has matched, so the choice
 * comes from that route's own config: no spelling of the URL (query, encoding, case, extra
 * segments) can move a request from one kind to the other. Unmatched paths never get here;
 * they answer 404 from the not-found handler.
 */
export function requireRouteAuth(apiKey: string): (req: FastifyRequest) => Promise<void> {
  return async (req) => {
    if (req.routeOptions.config.auth === 'attachToken') return
    if (!checkBearer(req.headers.authorization, apiKey)) {
      throw new ApiError('unauthorized', 'missing or wrong API key: send `Authorization: Bearer <key>`')
    }
  }
}
