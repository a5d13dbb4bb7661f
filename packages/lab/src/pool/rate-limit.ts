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
