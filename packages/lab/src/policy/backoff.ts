export interface BackoffOptions {
  baseMs?: number
  capMs?: number
  /** Returns a number in [0, 1); injected so tests are exact. */
  random?: () => number
}

/**
 * Exponential back-off after failed creates: the n-th consecutive failure waits
 * min(cap, base·2^(n-1)), scaled by a jitter factor in [0.5, 1). A success resets it.
 */
export class Backoff {
  private failures = 0
  private until = 0
  private readonly baseMs: number
  private readonly capMs: number
  private readonly random: () => number

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? 1000
    this.capMs = options.capMs ?? 60_000
    this.random = options.random ?? Math.random
  }

  /** Records a failure at `now`; returns the time until which creates should wait. */
  failure(now: number): number {
    this.failures++
    const raw = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.failures - 1, 30))
    this.until = now + Math.round(raw * (0.5 + this.random() / 2))
    return this.until
  }

  success(): void {
    this.failures = 0
    this.until = 0
  }

  /** Whether creates must wait at `now`. */
  active(now: number): boolean {
    return now < this.until
  }

  get backoffUntil(): number | undefined {
    return this.failures > 0 ? this.until : undefined
  }

  get consecutiveFailures(): number {
    return this.failures
  }
}
