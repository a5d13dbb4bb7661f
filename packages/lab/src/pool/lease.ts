import type { Logger } from 'pino'
import type { Clock } from '../clock/clock.ts'
import type { Store } from '../store/types.ts'

/** Whether this replica runs a pool's controller now: refills, recycling, retiring surplus. */
export interface PoolLease {
  held(): boolean
}

/** One process on its own store (SQLite): it runs every controller, with nothing to ask anyone. */
export const ALWAYS_HELD: PoolLease = { held: () => true }

/** A lease lasts this many renewal periods in the store. */
export const LEASE_TTL_RENEWALS = 1.5
/** A replica stops acting on a lease this many periods after the renewal that last succeeded was sent. */
export const LEASE_TRUST_RENEWALS = 1.25
/**
 * A replica missing a lease asks for it this many times per period, so it takes over a lapsed
 * lease within LEASE_TTL_RENEWALS + 1 / LEASE_POLLS_PER_PERIOD (1.75) periods of the holder's
 * last renewal: within two periods of a holder's death.
 */
export const LEASE_POLLS_PER_PERIOD = 4

/** The store's name of a pool's lease. */
export function poolLeaseName(pool: string): string {
  return `pool:${pool}`
}

interface Held {
  /** Until when this replica may act on it (its clock): the last successful renewal's send time + 2 periods. */
  trustedUntil: number
  /** The lease's work on acquisition (the pool's reconcile) finished: the controller may act. */
  ready: boolean
  preparing: boolean
  /** Counts acquisitions and losses: a reconcile begun under an earlier one makes no lease ready. */
  term: number
}

export interface LeaseKeeperOptions {
  readonly store: Store
  readonly clock: Clock
  readonly logger: Logger
  /** This replica's id: the holder the store records. */
  readonly holder: string
  readonly renewMs: number
  /** The leases to keep (pool:<name> for each pool). */
  readonly names: readonly string[]
  /**
   * Runs each time this replica takes a lease it did not hold (the pool's start-up reconcile);
   * the lease counts as held only once it resolved. A rejection is retried at the next renewal.
   */
  readonly onAcquired: (name: string) => Promise<void>
  /** Told once a lease is ready to act on (after onAcquired), e.g. to run the controller at once. */
  readonly onReady?: (name: string) => void
}

/**
 * Keeps this replica's leases among replicas sharing a store: every `renewMs` it asks for each
 * one (acquireLease takes a free or lapsed lease and renews its own), with a time to live of 1.5
 * periods; while it misses one it asks 4 times a period. It trusts a lease for 1.25 periods from
 * the send time of the last renewal that succeeded, so a replica whose renewals fail or hang
 * stops acting a quarter period after the renewal that did not come, a quarter period before
 * another replica can take the lease (the replicas' clocks must agree to better than that: NTP).
 * A holder killed at once is replaced within 1.75 periods of its last renewal. A renewal that
 * succeeds after trust ran out counts as a new acquisition (another replica may have held the
 * lease meanwhile), and runs `onAcquired` again.
 */
export class LeaseKeeper {
  private readonly state = new Map<string, Held>()
  private cancelTimer: (() => void) | undefined
  private renewing: Promise<void> = Promise.resolve()
  private stopped = false
  private readonly preparing = new Set<Promise<void>>()

  constructor(private readonly o: LeaseKeeperOptions) {
    for (const name of o.names) this.state.set(name, { trustedUntil: 0, ready: false, preparing: false, term: 0 })
  }

  /** The lease `name` as a controller sees it. */
  lease(name: string): PoolLease {
    return { held: () => this.isHeld(name) }
  }

  isHeld(name: string): boolean {
    const s = this.state.get(name)
    return s !== undefined && s.ready && this.o.clock.now() < s.trustedUntil
  }

  /** The leases this replica holds now, by name. */
  heldNames(): string[] {
    return [...this.state.keys()].filter((n) => this.isHeld(n))
  }

  /** Asks for every lease now, then every renewMs. */
  start(): void {
    this.tick()
  }

  /** Renews once more now (tests; the timer does it otherwise). */
  renewNow(): Promise<void> {
    this.renewing = this.renewing.then(() => this.renewAll())
    return this.renewing
  }

  /** Stops renewing and gives up what it holds, so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true
    this.cancelTimer?.()
    await this.renewing
    await Promise.all([...this.preparing])
    for (const [name, s] of this.state) {
      const was = s.trustedUntil > 0
      s.ready = false
      s.trustedUntil = 0
      if (was) await this.o.store.releaseLease(name, this.o.holder).catch(() => undefined)
    }
  }

  private tick(): void {
    if (this.stopped) return
    void this.renewNow().finally(() => {
      if (this.stopped) return
      const missing = [...this.state.keys()].some((n) => !this.isHeld(n))
      const period = missing ? Math.max(1, Math.round(this.o.renewMs / LEASE_POLLS_PER_PERIOD)) : this.o.renewMs
      this.cancelTimer = this.o.clock.setTimer(period, () => this.tick())
    })
  }

  private async renewAll(): Promise<void> {
    if (this.stopped) return
    await Promise.all([...this.state.keys()].map((name) => this.renew(name)))
  }

  private async renew(name: string): Promise<void> {
    const { store, clock, holder, renewMs, logger } = this.o
    const s = this.state.get(name)!
    const sentAt = clock.now()
    let ok: boolean
    try {
      ok = await store.acquireLease(name, holder, sentAt, LEASE_TTL_RENEWALS * renewMs)
    } catch (err) {
      // Not refused, just not renewed: the trust it has runs out by itself.
      logger.warn({ lease: name, err: err instanceof Error ? err.message : String(err) }, 'lease: renewal failed')
      return
    }
    if (this.stopped) return
    if (!ok) {
      if (s.ready) logger.warn({ lease: name, holder }, 'lease lost: this replica stops running the pool')
      s.ready = false
      s.trustedUntil = 0
      s.term++
      return
    }
    // Trust ran out before this renewal: another replica may have held the lease meanwhile.
    if (sentAt >= s.trustedUntil) {
      s.ready = false
      s.term++
    }
    s.trustedUntil = sentAt + LEASE_TRUST_RENEWALS * renewMs
    if (s.ready || s.preparing) return
    // In the background: renewals go on while the pool is reconciled, however long that takes.
    s.preparing = true
    const term = s.term
    const preparing = this.o.onAcquired(name).then(
      () => {
        if (this.stopped || s.term !== term) return
        s.ready = true
        logger.info({ lease: name, holder }, 'lease acquired: this replica runs the pool')
        this.o.onReady?.(name)
      },
      (err: unknown) => logger.warn({ lease: name, err: err instanceof Error ? err.message : String(err) }, 'lease: work on acquisition failed; retrying at the next renewal'),
    ).finally(() => {
      s.preparing = false
      this.preparing.delete(preparing)
    })
    this.preparing.add(preparing)
  }
}
