import type { Logger } from 'pino'
import type { SandboxDriver } from '../drivers/types.ts'
import type { Store } from '../store/types.ts'

/** Why a sandbox is torn down: a closed set, logged with every teardown. */
export type TeardownReason =
  | 'session_ended' // its session ended (a sandbox runs one session, once)
  | 'claim_failed' // it failed the claim before the answer
  | 'resume_failed' // after a restart, its session's shell could not be reconnected
  | 'recycled' // warm for longer than maxWarmAgeS
  | 'surplus' // warm above the pool's target
  | 'lost' // warm, but its agent went away or broke the protocol
  | 'create_failed' // the leftovers of a failed or abandoned start
  | 'orphan' // found running at start-up with no warm or claimed record
  | 'gateway_teardown' // `infra-lab gateway --teardown`

/**
 * The one place sandboxes are torn down: the store row goes `destroying`, the driver destroys the
 * sandbox, the row is deleted. Every path that ends a sandbox comes here (a session's end, a
 * failed claim, the controller's retirements and failed starts, start-up reconcile, the CLI's
 * teardown), so the pool's counts never see a sandbox without a row or a row without an owner.
 * A failed destroy is logged and leaves the row `destroying`: the next start's reconcile retries.
 */
export class SandboxTeardown {
  constructor(private readonly o: { readonly store: Store; readonly driver: SandboxDriver; readonly logger: Logger }) {}

  /**
   * A warm sandbox nobody claimed: warm -> destroying in one store step, or undefined (nothing
   * done) if a claim took it first. Then the rest of the teardown is under way in `destroyed`.
   */
  async retireWarm(id: string, reason: TeardownReason): Promise<{ readonly destroyed: Promise<boolean> } | undefined> {
    if (!(await this.o.store.retireWarmSandbox(id))) return undefined
    return { destroyed: this.finish(id, reason) }
  }

  /** Any sandbox, whatever its row says (or with no row at all); idempotent. True once it is gone. */
  async destroy(id: string, reason: TeardownReason): Promise<boolean> {
    try {
      await this.o.store.markSandboxDestroying(id)
    } catch (err) {
      this.o.logger.error({ sandbox: id, reason, err: errMessage(err) }, 'cannot mark sandbox destroying')
    }
    return this.finish(id, reason)
  }

  /** A row whose sandbox the driver no longer runs: only the row goes. */
  async forget(id: string): Promise<void> {
    await this.o.store.deleteSandbox(id)
  }

  private async finish(id: string, reason: TeardownReason): Promise<boolean> {
    try {
      await this.o.driver.destroy(id)
      await this.o.store.deleteSandbox(id)
      this.o.logger.debug({ sandbox: id, reason }, 'sandbox destroyed')
      return true
    } catch (err) {
      this.o.logger.error({ sandbox: id, reason, err: errMessage(err) }, 'failed to destroy sandbox; the next start reconciles it')
      return false
    }
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
