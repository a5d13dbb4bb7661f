/** Start times averaged for the refill time B. */
export const START_SAMPLES = 50
/** The refill time B assumed until a first start was seen, in seconds. */
export const DEFAULT_START_S = 1
/** The claim-rate window of a policy that names none, in seconds. */
export const DEFAULT_WINDOW_S = 300

/** The claim-rate window a policy observes over: its own `windowS`, else the default. */
export function windowSOf(policy: object): number {
  return 'windowS' in policy && typeof policy.windowS === 'number' ? policy.windowS : DEFAULT_WINDOW_S
}

/**
 * What the policies observe of a pool besides its counts: the claim rate over a sliding
 * window, and the mean time a sandbox takes from create to ready (the refill time B). The
 * live controller and the simulator both feed one of these. Times are milliseconds passed in
 * by the caller (no clock here); claims are recorded in time order.
 */
export class ClaimRate {
  // Claim times in a growable ring: [head, tail) are the ones still in some window.
  private claims = new Float64Array(256)
  private head = 0
  private tail = 0
  private readonly starts: Float64Array
  private nStarts = 0
  private startSum = 0
  private readonly defaultStartS: number

  constructor(private readonly maxStartSamples = START_SAMPLES, defaultStartS = DEFAULT_START_S) {
    this.starts = new Float64Array(maxStartSamples)
    this.defaultStartS = defaultStartS
  }

  recordClaim(now: number): void {
    if (this.tail === this.claims.length) {
      const live = this.claims.subarray(this.head, this.tail)
      const next = live.length * 2 > this.claims.length ? new Float64Array(this.claims.length * 2) : this.claims
      next.set(live)
      this.claims = next
      this.tail -= this.head
      this.head = 0
    }
    this.claims[this.tail++] = now
  }

  /**
   * Claims per second in the window (now - windowS, now]: a claim exactly windowS old has left
   * it. Claims older than the window are dropped, so a later call with a wider window does not
   * see them again.
   */
  ratePerS(now: number, windowS: number): number {
    const from = now - windowS * 1000
    while (this.head < this.tail && this.claims[this.head]! <= from) this.head++
    let end = this.tail
    while (end > this.head && this.claims[end - 1]! > now) end-- // recorded after `now` was read
    return (end - this.head) / windowS
  }

  recordStart(ms: number): void {
    const i = this.nStarts++ % this.maxStartSamples
    this.startSum += ms - this.starts[i]!
    this.starts[i] = ms
    // A running sum, summed afresh once per lap so rounding never accumulates over a long run.
    if (i === this.maxStartSamples - 1) this.startSum = this.starts.reduce((a, b) => a + b, 0)
  }

  /** Mean of the last starts, in seconds; `defaultStartS` until one was seen. */
  meanStartS(): number {
    const n = Math.min(this.nStarts, this.maxStartSamples)
    return n === 0 ? this.defaultStartS : this.startSum / n / 1000
  }
}
