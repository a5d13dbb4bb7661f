import type { Store } from '../store/types.ts'
import { ENDED_REASONS, type EndedReason } from '../store/types.ts'
import { scopeOf, type Principal } from './principal.ts'
import type { EndedReasonStats, QuotaStats } from './stats-schema.ts'

/** How much of the quotas and ended reasons GET /v1/stats answers: its size stays bounded whatever the store holds. */
export const MAX_KEYS_SHOWN = 50
export const MAX_USERS_SHOWN = 10
export const ENDED_BUCKET_MS = 3_600_000
export const ENDED_BUCKETS = 24
const RATE_WINDOW_MS = 60_000

/**
 * Quotas in use, as the caller may see them: the admin sees every key in force and the users
 * with the most open sessions; a scoped key sees its own limits and use, and only its users.
 */
export async function quotaStats(store: Store, caller: Principal, now: number, maxSessionsPerUser: number): Promise<QuotaStats> {
  const usage = new Map((await store.keyUsage(now - RATE_WINDOW_MS)).map((u) => [u.keyId, u]))
  const keys = caller.kind === 'scoped'
    ? [caller.key]
    : (await store.listKeys()).filter((k) => k.revokedAt === null && (k.expiresAt === null || k.expiresAt > now))
  const shown = keys
    .map((k) => ({
      id: k.id, name: k.name, openSessions: usage.get(k.id)?.openSessions ?? 0, createsLastMin: usage.get(k.id)?.createdSince ?? 0,
      ...(k.maxSessions !== null ? { maxSessions: k.maxSessions } : {}),
      ...(k.createsPerMin !== null ? { createsPerMin: k.createsPerMin } : {}),
    }))
    .sort((a, b) => b.openSessions - a.openSessions || a.name.localeCompare(b.name))
    .slice(0, MAX_KEYS_SHOWN)
  return { maxSessionsPerUser, keys: shown, users: await store.topOpenUsers(MAX_USERS_SHOWN, scopeOf(caller)) }
}

/**
 * Sessions ended per reason in the last day, in hourly buckets aligned to the hour (the last one
 * is the hour under way), every reason present so a chart's series never change.
 */
export async function endedReasonStats(store: Store, caller: Principal, now: number): Promise<EndedReasonStats> {
  const since = (Math.floor(now / ENDED_BUCKET_MS) - (ENDED_BUCKETS - 1)) * ENDED_BUCKET_MS
  const scope = scopeOf(caller)
  const rows = await store.endedByReason({ since, bucketMs: ENDED_BUCKET_MS, buckets: ENDED_BUCKETS, ...(scope ? { scope } : {}) })
  const counts = Object.fromEntries(ENDED_REASONS.map((r) => [r, new Array<number>(ENDED_BUCKETS).fill(0)])) as Record<EndedReason, number[]>
  for (const r of rows) counts[r.reason][r.bucket] = r.count
  return { bucketMs: ENDED_BUCKET_MS, t: Array.from({ length: ENDED_BUCKETS }, (_, i) => since + i * ENDED_BUCKET_MS), counts }
}
