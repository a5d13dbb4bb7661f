import type { KeyScope } from '../../spec/key-scope.ts'

/**
 * A user pattern (at most one `*`) as a LIKE pattern: LIKE's own wildcards and its escape (`_` is
 * allowed in user names) are escaped, `*` becomes `%`.
 */
export function likePattern(pattern: string): string {
  return pattern.replace(/[\\%_]/g, '\\$&').replace('*', '%')
}

/**
 * A scoped key's view as SQL conditions on `sessions`, with their arguments added to `args`
 * (numbered from its length): users as LIKE patterns, pools as a list. Undefined when the scope
 * covers nothing (an empty list), so the caller answers nothing without asking.
 */
export function scopeConditions(scope: KeyScope | undefined, args: unknown[]): string[] | undefined {
  const where: string[] = []
  if (scope?.users) {
    if (scope.users.length === 0) return undefined
    where.push(`(${scope.users.map((u) => `"user" LIKE $${args.push(likePattern(u))}`).join(' OR ')})`)
  }
  if (scope?.pools) {
    if (scope.pools.length === 0) return undefined
    where.push(`pool = ANY($${args.push([...scope.pools])}::text[])`)
  }
  return where
}
