/** A sandbox create that finished: when it was launched (ms since the epoch) and how long it took (ms). */
export interface StartEntry {
  readonly at: number
  readonly ms: number
}

/** How many finished creates a pool's status lists. */
export const STARTS_KEPT = 32

/**
 * The newest sandbox creates of a pool that finished, each with its own duration, and how
 * many finished in all: a reader that polls the pool's status sees every create once (the
 * growth of `count` says how many of `recent` are new) instead of a histogram's merged sums.
 */
export class StartLog {
  private readonly ring: StartEntry[] = []
  count = 0

  constructor(private readonly keep = STARTS_KEPT) {}

  record(at: number, ms: number): void {
    this.count++
    this.ring.push({ at, ms })
    if (this.ring.length > this.keep) this.ring.shift()
  }

  /** Oldest first. */
  recent(): readonly StartEntry[] {
    return [...this.ring]
  }
}
