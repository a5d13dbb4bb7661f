import type { FastifyRequest } from 'fastify'
import { scopeCovers, type KeyScope } from '../spec/key-scope.ts'
import type { Admission, KeyRecord } from '../store/types.ts'
import { ApiError } from './errors.ts'

/**
 * Who is calling: the admin key (`INFRA_LAB_API_KEY` / `.infra-lab/api-key`), which may do
 * everything, or a scoped key, which sees and acts only on the users and pools it covers.
 */
export type Principal =
  | { readonly kind: 'admin'; readonly name: 'admin'; readonly keyId: null }
  | { readonly kind: 'scoped'; readonly name: string; readonly keyId: string; readonly key: KeyRecord }

export const ADMIN: Principal = { kind: 'admin', name: 'admin', keyId: null }

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every keyed route; undefined on public and attach-token routes. */
    principal?: Principal
  }
}

/** The caller of a keyed route (the auth hook has set it; a route without one is a wiring bug). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new Error(`route ${req.routeOptions.url} runs without a principal`)
  return req.principal
}

export function scopeOf(p: Principal): KeyScope | undefined {
  return p.kind === 'admin' ? undefined : { users: p.key.users, pools: p.key.pools }
}

export function covers(p: Principal, target: { readonly user?: string; readonly pool?: string }): boolean {
  return p.kind === 'admin' || scopeCovers(scopeOf(p)!, target)
}

/** A create for a user or pool outside the key's scope: 403, naming which. */
export function requireCovers(p: Principal, target: { readonly user: string; readonly pool: string }): void {
  if (p.kind === 'admin') return
  if (!scopeCovers(scopeOf(p)!, { user: target.user })) throw new ApiError('forbidden', `this key may not create sessions for user "${target.user}"`)
  if (!scopeCovers(scopeOf(p)!, { pool: target.pool })) throw new ApiError('forbidden', `this key may not use pool "${target.pool}"`)
}

/** The quotas a create by this caller is admitted under (the admin key has no rate limit). */
export function admissionFor(p: Principal, maxSessionsPerUser: number): Admission {
  if (p.kind === 'admin') return { maxSessionsPerUser }
  return {
    maxSessionsPerUser,
    ...(p.key.maxSessions !== null ? { maxSessions: p.key.maxSessions } : {}),
    ...(p.key.createsPerMin !== null ? { createsPerMin: p.key.createsPerMin } : {}),
  }
}
