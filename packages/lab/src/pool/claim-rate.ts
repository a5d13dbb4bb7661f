/**
 * What the policies observe: the claim rate over a sliding window, and the mean time a
 * sandbox takes from create to ready (the refill time B).
 */
export class ClaimRate {
  private claims: number[] = []
  private starts: number[] = []

  constructor(private readonly maxStartSamples = 50, private readonly defaultStartS = 1) {}

  recordClaim(now: number): void {
    this.claims.push(now)
  }

  /** Claims per second over the `windowS` seconds up to `now`. */
  ratePerS(now: number, windowS: number): number {
    const from = now - windowS * 1000
    let i = 0
    while (i < this.claims.length && this.claims[i]! <= from) i++
    if (i > 0) this.claims = this.claims.slice(i)
    return this.claims.filter((t) => t <= now).length / windowS
  }

  recordStart(ms: number): void {
    this.starts.push(ms)
    if (this.starts.length > this.maxStartSamples) this.starts.shift()
  }

  /** Mean of the last starts, in seconds; `defaultStartS` until one was seen. */
  meanStartS(): number {
    if (this.starts.length === 0) return this.defaultStartS
    return this.starts.reduce((a, b) => a + b, 0) / this.starts.length / 1000
  }
}
