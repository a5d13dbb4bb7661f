import type { Logger } from 'pino'
import type { Clock } from '../clock/clock.ts'
import { connectWithin } from '../drivers/connect-within.ts'
import type { AgentChannel } from '../drivers/channel.ts'
import type { SandboxDriver } from '../drivers/types.ts'
import type { PoolSpec } from '../spec/pool-spec.ts'
import type { SessionRecord, Store } from '../store/types.ts'
import { CLAIM_AGENT_TIMEOUT_MS } from './claim-timeout.ts'
import type { SandboxTeardown } from './teardown.ts'

/**
 * Beyond the claim's own timeouts, how long a session may stay `starting` before the pool takes
 * its creator for dead: the connect and workspace-bind steps between the claim and the message to
 * the agent have no timeout of their own (twice the agent's default hello timeout, as reconcile
 * allows a create in flight).
 */
export const ABANDONED_CLAIM_MARGIN_MS = 60_000
/** How often the pool's lease holder looks for abandoned claims. */
export const ABANDONED_CHECK_MS = 5_000
/** How long the agent of a session that looks abandoned has to say what it knows. */
const AGENT_ANSWER_MS = 5_000

/** What became of a session found `starting` past its creator's time. */
export type AbandonedOutcome = 'ended' | 'running' | 'left'

/**
 * Sessions left `starting` by a creator that died between the store's claim and `ready` (a
 * replica killed mid-claim): no other replica adopts them (their agent is still warm, or
 * answered a claim nobody recorded) and no creator will end them. Run by the pool's lease holder
 * only: once a session is older than claimTimeoutMs + CLAIM_AGENT_TIMEOUT_MS + the margin, its
 * creator, were it alive, would have ended it or marked it running. Its agent decides: one that
 * applied this session's claim makes it `running` (the shell is the user's; replicas then connect
 * to it); otherwise (still warm, another state, unreachable, no sandbox) it ends as claim_failed
 * and its sandbox goes through the pool's teardown, by the one replica whose end wins.
 */
export class AbandonedClaims {
  constructor(private readonly o: {
    readonly spec: PoolSpec
    readonly store: Store
    readonly driver: SandboxDriver
    readonly clock: Clock
    readonly teardown: SandboxTeardown
    readonly logger: Logger
  }) {}

  /** The age past which a `starting` session of this pool is abandoned. */
  get maxStartingMs(): number {
    return this.o.spec.claimTimeoutMs + CLAIM_AGENT_TIMEOUT_MS + ABANDONED_CLAIM_MARGIN_MS
  }

  /** One pass over the pool's `starting` sessions; returns what became of those past their time. */
  async check(): Promise<Map<string, AbandonedOutcome>> {
    const { store, spec, clock } = this.o
    const before = clock.now() - this.maxStartingMs
    const stale = (await store.listSessions({ pool: spec.name, state: 'starting' })).filter((s) => s.createdAt <= before)
    const outcomes = new Map<string, AbandonedOutcome>()
    for (const s of stale) outcomes.set(s.id, await this.settle(s))
    return outcomes
  }

  private async settle(s: SessionRecord): Promise<AbandonedOutcome> {
    const { store, driver, clock, teardown, logger } = this.o
    const sandbox = s.sandboxId ? await store.getSandbox(s.sandboxId) : undefined
    let channel: AgentChannel | undefined
    if (sandbox?.handle) channel = await connectWithin(driver, sandbox.handle, AGENT_ANSWER_MS).catch(() => undefined)
    const hello = channel?.hello
    channel?.close()
    if (hello?.state === 'claimed' && hello.sessionId === s.id) {
      // The claim reached the agent; only the creator's record of `ready` is missing.
      await store.markSessionRunning(s.id, s.timings, clock.now())
      logger.warn({ pool: s.pool, session: s.id }, 'a session whose creator is gone had its claim applied; marked running')
      return 'running'
    }
    if (!(await store.endSession(s.id, 'claim_failed', clock.now()))) return 'left'
    logger.warn({ pool: s.pool, session: s.id, sandbox: s.sandboxId, agent: hello?.state ?? 'unreachable' },
      'a session whose creator is gone never had its claim applied; ended as claim_failed')
    if (s.sandboxId) await teardown.destroy(s.sandboxId, 'claim_failed')
    return 'ended'
  }
}
