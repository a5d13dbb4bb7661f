import type { PolicySpec } from '../spec/policy-schema.ts'
import type { ClaimHistoryView } from './types.ts'

export const HOUR_MS = 3_600_000
export const DAY_MS = 24 * HOUR_MS
export const WEEK_MS = 7 * DAY_MS

/**
 * The claim history a pool keeps for its policy: hourly buckets over eight days, or for a
 * `predictive` policy with a compressed day (dayS), 24 buckets a day over eight of its days.
 */
export function claimHistoryFor(policy: PolicySpec): ClaimHistory {
  if (policy.kind !== 'predictive' || policy.dayS === DAY_MS / 1000) return new ClaimHistory()
  const dayMs = policy.dayS * 1000
  return new ClaimHistory(dayMs / 24, 8 * dayMs)
}

/**
 * Claim counts in fixed buckets (an hour by default) over the last `spanMs` (8 days: enough
 * for "same hour last week"): O(1) per claim, O(1) per look-up, fixed memory. A plain data
 * structure with no clock: the caller passes the time of each claim.
 */
export class ClaimHistory implements ClaimHistoryView {
  private readonly counts: Float64Array
  private readonly ids: Float64Array
  private readonly size: number

  constructor(readonly bucketMs = HOUR_MS, spanMs = WEEK_MS + DAY_MS) {
    this.size = Math.ceil(spanMs / bucketMs) + 1
    this.counts = new Float64Array(this.size)
    this.ids = new Float64Array(this.size).fill(-1)
  }

  recordClaim(tMs: number, n = 1): void {
    const id = Math.floor(tMs / this.bucketMs)
    const i = id % this.size
    if (this.ids[i] !== id) {
      this.ids[i] = id
      this.counts[i] = 0
    }
    this.counts[i]! += n
  }

  /** Rate in the bucket holding tMs; undefined when that bucket is not (or no longer) kept. */
  ratePerSAt(tMs: number): number | undefined {
    const id = Math.floor(tMs / this.bucketMs)
    const i = id % this.size
    if (this.ids[i] !== id) return undefined
    return this.counts[i]! / (this.bucketMs / 1000)
  }

  /** Marks every bucket from `fromMs` up to `toMs` as recorded (zero claims count as data). */
  touch(fromMs: number, toMs: number): void {
    for (let t = fromMs; t <= toMs; t += this.bucketMs) this.recordClaim(t, 0)
  }
}
