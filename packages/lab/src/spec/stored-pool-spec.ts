import type { z } from 'zod'
import { poolSpecSchema, type PoolSpec } from './pool-spec.ts'

/** Enough passes for every level of nesting a spec has (spec, policy, limits, egress). */
const MAX_PASSES = 5

/**
 * A pool spec read back from the store. Replicas of two releases share one database during a
 * rolling upgrade, so a spec may carry fields a newer release added and this one does not know:
 * those are dropped (the spec as this release understands it) rather than refused. Everything
 * else is validated as strictly as a spec from the config: a known field with a bad value throws.
 */
export function parseStoredPoolSpec(raw: unknown): PoolSpec {
  const value = structuredClone(raw)
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const r = poolSpecSchema.safeParse(value)
    if (r.success) return r.data
    const unknown = r.error.issues.filter((i): i is z.core.$ZodIssueUnrecognizedKeys => i.code === 'unrecognized_keys')
    if (unknown.length === 0) throw r.error
    for (const issue of unknown) {
      const target = at(value, issue.path)
      if (target) for (const key of issue.keys) delete target[key]
    }
  }
  return poolSpecSchema.parse(value)
}

function at(value: unknown, path: readonly PropertyKey[]): Record<PropertyKey, unknown> | undefined {
  let v = value
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined
    v = (v as Record<PropertyKey, unknown>)[k]
  }
  return typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>) : undefined
}
