import { z } from 'zod'

/** A user pattern of a scoped key: a user name with at most one `*` (any run of name characters). */
export const USER_PATTERN_RE = /^[A-Za-z0-9._-]*\*?[A-Za-z0-9._-]*$/
export const userPatternSchema = z.string().min(1).max(65).regex(USER_PATTERN_RE, 'must be a user name with at most one `*`, e.g. team-a-*')

/** What a scoped key covers; null: everything of that kind. */
export interface KeyScope {
  readonly users: readonly string[] | null
  readonly pools: readonly string[] | null
}

export function userMatches(pattern: string, user: string): boolean {
  const star = pattern.indexOf('*')
  if (star < 0) return pattern === user
  const head = pattern.slice(0, star)
  const tail = pattern.slice(star + 1)
  return user.length >= head.length + tail.length && user.startsWith(head) && user.endsWith(tail)
}

export function scopeCovers(scope: KeyScope, target: { readonly user?: string; readonly pool?: string }): boolean {
  if (target.user !== undefined && scope.users !== null && !scope.users.some((p) => userMatches(p, target.user!))) return false
  if (target.pool !== undefined && scope.pools !== null && !scope.pools.includes(target.pool)) return false
  return true
}
