import { QuotaRefused, type Admission } from './types.ts'

/** How long a caller over a concurrency quota is told to wait: a session has to end first. */
export const QUOTA_RETRY_AFTER_S = 5

/**
 * The admission's arithmetic, shared by the stores; each store reads the counts and the bucket
 * under its own lock (SQLite's write lock, Postgres's advisory locks) and writes the bucket back.
 */

/** Throws when a user already has `maxSessionsPerUser` sessions open. */
export function checkUserQuota(a: Admission, open: number): void {
  if (a.maxSessionsPerUser !== undefined && open >= a.maxSessionsPerUser) {
    throw new QuotaRefused('quota_exceeded', 'maxSessionsPerUser', a.maxSessionsPerUser, QUOTA_RETRY_AFTER_S)
  }
}

/** Throws when a key already has `maxSessions` sessions open. */
export function checkKeyQuota(a: Admission, open: number): void {
  if (a.maxSessions !== undefined && open >= a.maxSessions) {
    throw new QuotaRefused('quota_exceeded', 'maxSessions', a.maxSessions, QUOTA_RETRY_AFTER_S)
  }
}

/**
 * The key's token bucket at `now` (a full bucket of `createsPerMin` when it has none yet, refilled
 * at createsPerMin a minute), before this create takes its token; throws `rate_limited` when less
 * than one token is left. The caller stores `tokens - 1` when the create goes ahead.
 */
export function bucketTokens(createsPerMin: number, row: { tokens: number; updated_at: number } | undefined, now: number): number {
  const perMs = createsPerMin / 60_000
  const tokens = row ? Math.min(createsPerMin, row.tokens + Math.max(0, now - row.updated_at) * perMs) : createsPerMin
  if (tokens < 1) throw new QuotaRefused('rate_limited', 'createsPerMin', createsPerMin, Math.max(1, Math.ceil((1 - tokens) / perMs / 1000)))
  return tokens
}
