import type { KeyScope } from '../../spec/key-scope.ts'

/**
 * A scoped key's view as SQL conditions on `sessions`: its users as GLOB patterns (user names
 * hold none of GLOB's special characters, so `*` is the only one a pattern can carry), its pools
 * as a list. Undefined when the scope covers nothing (an empty list), so the caller answers
 * nothing without asking.
 */
export function scopeConditions(scope: KeyScope | undefined): { where: string[]; args: string[] } | undefined {
  const where: string[] = []
  const args: string[] = []
  if (scope?.users) {
    if (scope.users.length === 0) return undefined
    where.push(`(${scope.users.map(() => 'user GLOB ?').join(' OR ')})`)
    args.push(...scope.users)
  }
  if (scope?.pools) {
    if (scope.pools.length === 0) return undefined
    where.push(`pool IN (${scope.pools.map(() => '?').join(', ')})`)
    args.push(...scope.pools)
  }
  return { where, args }
}
