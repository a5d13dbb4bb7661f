import type { Clock } from '../clock/clock.ts'
import type { AgentChannel } from '../drivers/channel.ts'
import type { PoolSpec } from '../spec/pool-spec.ts'
import type { Claimed, NewSession, Store } from '../store/types.ts'
import type { PoolController } from './controller.ts'
import { CapacityExhausted, ClaimCancelled, PoolStopped } from './errors.ts'
import { sizeAgainstMax } from './pool-counts.ts'

/** A claim made: the session and its sandbox as the store wrote them. */
export interface PoolClaim {
  readonly claimed: Claimed
  /** A warm sandbox was ready; false: the claim waited for one to start. */
  readonly warm: boolean
  /** The controller's open channel to the sandbox, when it had one: the caller owns it now. */
  readonly channel: AgentChannel | undefined
}

/**
 * The claim, decided in one place: the oldest warm sandbox (one store transaction, nothing else
 * on that path); else, within maxSize, a cold start of its own; else, when the pool is at
 * maxSize only because starts are on their way that no other claim waits for, one of those.
 * A claim that waits is a waiter of the controller's, served by the create that finishes.
 * Errors: QuotaRefused (from the store), CapacityExhausted, ClaimTimeout, ClaimCancelled,
 * PoolStopped, or the driver's error when the start it waited for failed.
 */
export class PoolClaims {
  constructor(private readonly o: { readonly spec: PoolSpec; readonly store: Store; readonly clock: Clock; readonly controller: PoolController }) {}

  async claim(session: NewSession, signal?: AbortSignal): Promise<PoolClaim> {
    const { spec, store, clock, controller } = this.o
    const startedAt = clock.now()
    const warm = await store.claimWarm(spec.name, session, startedAt)
    const claimed = warm ?? await this.coldOrWait(session, startedAt + spec.claimTimeoutMs, signal)
    controller.recordClaim(clock.now())
    controller.nudge()
    return { claimed, warm: warm !== undefined, channel: controller.takeWarm(claimed.sandbox.id) }
  }

  private async coldOrWait(session: NewSession, deadline: number, signal: AbortSignal | undefined): Promise<Claimed> {
    const { spec, store, clock, controller } = this.o
    // A refused create starts nothing: the quotas are asked before a cold start (and again by its claim).
    await store.checkAdmission(session, clock.now())
    const counts = await store.countSandboxes(spec.name)
    // From here to the waiter's registration nothing awaits: the counts below are one moment's.
    if (controller.isStopping) throw new PoolStopped(spec.name)
    if (signal?.aborted) throw new ClaimCancelled(spec.name)
    const { waiters } = controller
    if (waiters.size >= spec.maxClaimWaiters) throw new CapacityExhausted(spec.name, spec.maxSize, waiters.size)
    const coldStart = sizeAgainstMax(counts, controller.inFlight) < spec.maxSize
    // At maxSize, a claim may wait only for a start no other waiter is counting on.
    if (!coldStart && controller.inFlight <= waiters.size) throw new CapacityExhausted(spec.name, spec.maxSize)
    const claimed = waiters.wait(session, Math.max(1, deadline - clock.now()), signal)
    if (coldStart) controller.startForClaim()
    return claimed
  }
}
