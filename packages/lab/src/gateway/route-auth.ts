import type { FastifyRequest } from 'fastify'
import type { Clock } from '../clock/clock.ts'
import type { Store } from '../store/types.ts'
import { bearerOf, safeEqual, sha256Hex } from './auth.ts'
import { ApiError } from './errors.ts'
import { ADMIN, type Principal } from './principal.ts'

/**
 * How a /v1 route authenticates its caller: any API key (what a route that says nothing gets),
 * the admin key only (keys, webhooks, audit), or an attach token that the route checks itself
 * (only the terminal).
 */
export type RouteAuth = 'apiKey' | 'admin' | 'attachToken'

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth
  }
}

/**
 * Whether a route needs a key: every route under /v1 (the scope requireRouteAuth guards)
 * unless its config says it checks an attach token itself, and a route elsewhere (/mcp) whose
 * config says `apiKey`. /openapi.json reports this per operation, so the security suite's table
 * of keyed operations follows the routes.
 */
export function routeNeedsKey(url: string, auth: RouteAuth | undefined): boolean {
  return (url.startsWith('/v1/') && auth !== 'attachToken') || auth === 'apiKey' || auth === 'admin'
}

export interface KeyResolver {
  readonly adminKey: string
  readonly store: Pick<Store, 'getKeyBySecretHash'>
  readonly clock: Clock
}

/**
 * The caller behind a bearer secret: the admin key (compared in constant time), else a scoped
 * key found by its secret's hash (a lookup by hash leaks nothing of the secret); revoked and
 * expired keys are refused like wrong ones.
 */
export async function resolvePrincipal(header: string | undefined, r: KeyResolver): Promise<Principal> {
  const secret = bearerOf(header)
  if (secret === undefined) throw new ApiError('unauthorized', 'missing API key: send `Authorization: Bearer <key>`')
  if (safeEqual(secret, r.adminKey)) return ADMIN
  const key = await r.store.getKeyBySecretHash(sha256Hex(secret))
  if (!key) throw new ApiError('unauthorized', 'wrong API key: send `Authorization: Bearer <key>`')
  if (key.revokedAt !== null) throw new ApiError('unauthorized', `key ${key.id} was revoked`)
  if (key.expiresAt !== null && key.expiresAt <= r.clock.now()) throw new ApiError('unauthorized', `key ${key.id} expired`)
  return { kind: 'scoped', name: key.name, keyId: key.id, key }
}

/**
 * The /v1 scope's onRequest hook. Fastify runs it only once a route has matched, so the choice
 * comes from that route's own config: no spelling of the URL (query, encoding, case, extra
 * segments) can move a request from one kind to the other. Unmatched paths never get here;
 * they answer 404 from the not-found handler.
 */
export function requireRouteAuth(r: KeyResolver): (req: FastifyRequest) => Promise<void> {
  return async (req) => {
    const auth = req.routeOptions.config.auth
    if (auth === 'attachToken') return
    const principal = await resolvePrincipal(req.headers.authorization, r)
    if (auth === 'admin' && principal.kind !== 'admin') throw new ApiError('forbidden', 'only the admin key may use this route')
    req.principal = principal
  }
}
