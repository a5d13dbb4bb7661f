import type { Backoff } from './backoff.ts'

/**
 * Token bucket for maxCreatesPerMin: holds up to `perMin` tokens, refills continuously at
 * perMin/60 s. Time is passed in, so tests assert exact waits.
 */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(private readonly perMin: number, now: number, private readonly capacity = perMin) {
    if (!(perMin > 0)) throw new RangeError(`rate must be > 0 per minute, got ${perMin}`)
    this.tokens = capacity
    this.last = now
  }

  /** Whole tokens available at `now`. */
  available(now: number): number {
    this.refill(now)
    return Math.floor(this.tokens)
  }

  /** Takes up to `n` tokens; returns how many it took. */
  take(now: number, n: number): number {
    const got = Math.max(0, Math.min(n, this.available(now)))
    this.tokens -= got
    return got
  }

  /** Milliseconds until one more whole token is available (0 if one is). */
  msUntilNext(now: number): number {
    this.refill(now)
    if (this.tokens >= 1) return 0
    return Math.ceil(((1 - this.tokens) * 60_000) / this.perMin)
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.perMin) / 60_000)
      this.last = now
    }
  }
}

export interface CreatePlan {
  /** Warm-pool creates to start now. */
  readonly count: number
  /** Milliseconds until creating may be allowed again, when something other than the target held creates back. */
  readonly wakeInMs?: number
}

/**
 * How many of the `want` refills may start at `now`: none while backing off after failures
 * (wake when it ends), else up to the free concurrency `slots`, taken from the create budget
 * (wake when its next token accrues if it held creates back). No budget: concurrency only.
 */
export function planCreates(now: number, want: number, slots: number, backoff: Backoff, budget: TokenBucket | undefined): CreatePlan {
  if (want <= 0) return { count: 0 }
  if (backoff.active(now)) return { count: 0, wakeInMs: backoff.backoffUntil! - now }
  const allowed = Math.max(0, Math.min(want, slots))
  if (!budget) return { count: allowed }
  const count = budget.take(now, allowed)
  return count < want && count < slots ? { count, wakeInMs: budget.msUntilNext(now) } : { count }
}
