import type { SandboxDriver } from '../drivers/types.ts'
import type { PoolSpec } from '../spec/pool-spec.ts'
import type { NewSession } from '../store/types.ts'
import { PoolClaims, type PoolClaim } from './claim.ts'
import { PoolController, type PoolControllerOptions } from './controller.ts'
import type { TeardownReason } from './teardown.ts'

/**
 * A pool as the gateway runs it: its spec, its driver, its controller, and the two things the
 * gateway asks of it: a claim (warm, cold or wait) and a sandbox's teardown.
 */
export class PoolRuntime {
  readonly spec: PoolSpec
  readonly driver: SandboxDriver
  readonly controller: PoolController
  private readonly claims: PoolClaims

  constructor(options: PoolControllerOptions) {
    this.spec = options.spec
    this.driver = options.driver
    this.controller = new PoolController(options)
    this.claims = new PoolClaims({ spec: options.spec, store: options.store, clock: options.clock, controller: this.controller })
  }

  /** Claims a sandbox of this pool for `session` (see PoolClaims); `signal` withdraws a waiting claim. */
  claim(session: NewSession, signal?: AbortSignal): Promise<PoolClaim> {
    return this.claims.claim(session, signal)
  }

  /** Tears down one of the pool's sandboxes, whatever its state, and lets the pool refill. */
  async retire(sandboxId: string, reason: TeardownReason): Promise<void> {
    await this.controller.teardown.destroy(sandboxId, reason)
    this.controller.nudge()
  }
}
