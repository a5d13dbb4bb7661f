/**
 * Creates this controller started and has not yet seen finish. A sandbox counts here from
 * before its store row exists until after the store shows it warm (or it is cleaned up),
 * so a slow create is never counted zero times, and a reconcile never double-creates for it.
 */
export class Expectations {
  private readonly inFlight = new Map<string, { readonly startedAt: number; readonly forClaim: boolean }>()

  add(id: string, startedAt: number, forClaim = false): void {
    if (this.inFlight.has(id)) throw new Error(`create of ${id} is already expected`)
    this.inFlight.set(id, { startedAt, forClaim })
  }

  done(id: string): void {
    this.inFlight.delete(id)
  }

  has(id: string): boolean {
    return this.inFlight.has(id)
  }

  /** A create in flight for a claim (the cold path). */
  isForClaim(id: string): boolean {
    return this.inFlight.get(id)?.forClaim ?? false
  }

  /** Creates in flight for the warm pool (cold-path creates are counted separately). */
  get warmCount(): number {
    let n = 0
    for (const e of this.inFlight.values()) if (!e.forClaim) n++
    return n
  }

  get size(): number {
    return this.inFlight.size
  }
}
