import type { Clock } from '../clock/clock.ts'
import type { Claimed, NewSession, Store } from '../store/types.ts'
import { ClaimCancelled, ClaimTimeout } from './errors.ts'

interface Waiter {
  readonly session: NewSession
  readonly resolve: (claimed: Claimed) => void
  readonly reject: (err: unknown) => void
  /** Stops its timer and abort listener: called once it leaves the queue for good. */
  release: () => void
  /** A hand-off's claim for it is in the store: a timeout or cancel waits for that claim's outcome. */
  busy: boolean
  /** The timeout or cancel that arrived while it was busy. */
  late: Error | undefined
}

/**
 * Claims waiting for a sandbox on its way (their own cold start, or a refill), oldest first. The
 * path that finishes a create hands the sandbox to the oldest waiter (`handOff`), which claims it
 * in the store for that waiter's session: no waiter reads the store while it waits. A waiter
 * leaves after its timeout or when its caller goes away; a sandbox then goes to the next waiter,
 * or stays warm for the next claim.
 */
export class ClaimWaiters {
  private readonly queue: Waiter[] = []

  constructor(private readonly o: { readonly pool: string; readonly store: Store; readonly clock: Clock }) {}

  get size(): number {
    return this.queue.length
  }

  /**
   * Waits until a hand-off claims a sandbox for `session`. Rejects with ClaimTimeout after
   * `timeoutMs`, ClaimCancelled when `signal` aborts, or what the claim itself threw (a quota).
   * A claim already made when the timeout or cancel arrives is the caller's all the same.
   */
  wait(session: NewSession, timeoutMs: number, signal?: AbortSignal): Promise<Claimed> {
    return new Promise<Claimed>((resolve, reject) => {
      const w: Waiter = { session, resolve, reject, release: () => undefined, busy: false, late: undefined }
      const leave = (err: Error) => {
        if (w.busy) {
          w.late ??= err
          return
        }
        const i = this.queue.indexOf(w)
        if (i < 0) return
        this.queue.splice(i, 1)
        w.release()
        reject(err)
      }
      const onAbort = () => leave(new ClaimCancelled(this.o.pool))
      const cancelTimer = this.o.clock.setTimer(timeoutMs, () => leave(new ClaimTimeout(this.o.pool, timeoutMs)))
      signal?.addEventListener('abort', onAbort, { once: true })
      w.release = () => {
        cancelTimer()
        signal?.removeEventListener('abort', onAbort)
      }
      this.queue.push(w)
      if (signal?.aborted) onAbort()
    })
  }

  /**
   * A warm sandbox no claim holds: the oldest waiter claims it (one store transaction). A waiter
   * whose claim the store refuses (a quota) gets that error and the next one is tried. False if
   * no waiter took it: it stays warm. If another claim took the sandbox first, the waiter keeps
   * its place at the head of the queue.
   */
  async handOff(sandboxId: string): Promise<boolean> {
    for (let w = this.queue.shift(); w; w = this.queue.shift()) {
      w.busy = true
      let claimed: Claimed | undefined
      try {
        claimed = await this.o.store.claimSandbox(sandboxId, w.session, this.o.clock.now())
      } catch (err) {
        w.release()
        w.reject(err)
        continue
      }
      w.busy = false
      if (claimed) {
        w.release()
        w.resolve(claimed)
        return true
      }
      if (w.late) {
        w.release()
        w.reject(w.late)
      } else {
        this.queue.unshift(w)
      }
      return false
    }
    return false
  }

  /** The oldest waiter gets `err` (the start it would have had failed). */
  failOldest(err: unknown): void {
    this.drop(this.queue.shift(), err)
  }

  /** The newest waiter gets `err` (nothing is on its way for it). */
  failNewest(err: unknown): void {
    this.drop(this.queue.pop(), err)
  }

  /** Every waiter gets `err` (the pool is stopping). */
  failAll(err: unknown): void {
    while (this.queue.length > 0) this.failOldest(err)
  }

  private drop(w: Waiter | undefined, err: unknown): void {
    if (!w) return
    w.release()
    w.reject(err)
  }
}
