/**
 * maxWarmAgeS recycling: a warm sandbox that waited this long for a claim is replaced (its
 * image, credentials or host may have gone stale). Age counts from the create, not from ready.
 */

/** When a sandbox created at `createdAtMs` is due for replacement; Infinity when maxWarmAgeS is 0 (never). */
export function recycleAtMs(createdAtMs: number, maxWarmAgeS: number): number {
  return maxWarmAgeS > 0 ? createdAtMs + maxWarmAgeS * 1000 : Infinity
}

/** Whether it is due at `now`: an age of exactly maxWarmAgeS is. */
export function dueForRecycle(createdAtMs: number, now: number, maxWarmAgeS: number): boolean {
  return now >= recycleAtMs(createdAtMs, maxWarmAgeS)
}
