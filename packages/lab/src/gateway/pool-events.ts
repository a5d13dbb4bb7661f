import type { Logger } from 'pino'
import type { Clock } from '../clock/clock.ts'
import type { Store } from '../store/types.ts'
import type { PoolRuntime } from '../pool/runtime.ts'

/** A pool's `pool.status` event is appended at most this often, and only when its counts changed. */
export const POOL_STATUS_EVERY_MS = 1000

/**
 * Appends `pool.status` events: every POOL_STATUS_EVERY_MS it compares each pool's counts as of
 * its controller's last reconcile (ready, starting, claimed, target) with what it last appended,
 * and appends the pools whose counts changed. After a start the first look appends every pool.
 */
export class PoolStatusEvents {
  private readonly last = new Map<string, string>()
  private cancel: (() => void) | undefined
  private stopped = true

  constructor(private readonly deps: { readonly pools: ReadonlyMap<string, PoolRuntime>; readonly store: Store; readonly clock: Clock; readonly logger?: Logger }) {}

  start(): void {
    this.stopped = false
    this.schedule()
  }

  stop(): void {
    this.stopped = true
    this.cancel?.()
  }

  /** One look at every pool; returns how many events it appended. */
  async publish(): Promise<number> {
    let n = 0
    for (const p of this.deps.pools.values()) {
      const st = p.controller.status()
      const counts = { ready: st.ready, starting: st.starting, claimed: st.claimed, target: st.target }
      const key = JSON.stringify(counts)
      if (this.last.get(p.spec.name) === key) continue
      this.last.set(p.spec.name, key)
      await this.deps.store.appendEvent({ at: this.deps.clock.now(), type: 'pool.status', pool: p.spec.name, user: null, sessionId: null, data: counts })
      n++
    }
    return n
  }

  private schedule(): void {
    if (this.stopped) return
    this.cancel = this.deps.clock.setTimer(POOL_STATUS_EVERY_MS, () => {
      this.publish().catch((err: unknown) => this.deps.logger?.error({ err: String(err) }, 'pool.status event failed')).finally(() => this.schedule())
    })
  }
}
