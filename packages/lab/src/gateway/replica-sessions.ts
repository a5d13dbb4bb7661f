import type { Logger } from 'pino'
import type { Clock } from '../clock/clock.ts'
import type { AgentChannel } from '../drivers/channel.ts'
import { connectWithin } from '../drivers/connect-within.ts'
import type { SandboxHandle } from '../drivers/types.ts'
import type { PoolRuntime } from '../pool/runtime.ts'
import type { SandboxRecord, SessionRecord, Store } from '../store/types.ts'
import { RESUME_AGENT_TIMEOUT_MS } from './session-resume.ts'

/** Sessions one replica connects to at once when it catches up with the others'. */
const ADOPT_CONCURRENCY = 16

/** A session and its sandbox as a caller already read them. */
export interface KnownSession {
  readonly session: SessionRecord
  readonly sandbox: SandboxRecord | undefined
}

/** How an adoption ended: connected here, the shell found exited, or nothing to connect to. */
export type AdoptOutcome = 'live' | 'exited' | 'not_live'

export interface ReplicaSessionsDeps {
  readonly store: Store
  readonly pools: ReadonlyMap<string, PoolRuntime>
  readonly clock: Clock
  readonly logger: Logger
  /** How often the sessions of the pools this replica runs are read back (and connected to). */
  readonly syncMs: number
  isLive(sessionId: string): boolean
  /** Makes the session live on this replica over `channel` (its agent said it runs this session). */
  connected(s: SessionRecord, handle: SandboxHandle, channel: AgentChannel): Promise<void>
  /** The lease holder found the session's shell exited while no replica heard it: end it. */
  exited(sessionId: string): Promise<void>
}

/**
 * Replicas: connecting this replica to sessions another one created.
 *
 * Who holds a connection to a session: the replica that created it; the replica holding its
 * pool's lease (`sync`, every `syncMs`), so a session whose creator dies is still heard (its
 * exit, its idle time) by one replica; and any replica a request for the session reaches
 * (`adopt` on demand: attach, exec, files, end), which then keeps it. Not every replica: a
 * connection per session and replica would cost every claim a connection on every replica.
 */
export class ReplicaSessions {
  private readonly adopting = new Map<string, Promise<AdoptOutcome>>()
  private cancelSync: (() => void) | undefined
  private stopped = false

  constructor(private readonly deps: ReplicaSessionsDeps) {}

  /**
   * Connects this replica to an open session, once its agent has applied the claim (the hello
   * names the session); 'live' when the session is live here. Ends nothing itself: a session it
   * cannot reach is its creator's, the lease holder's, or the sweep's to end.
   */
  adopt(sessionId: string, known?: KnownSession): Promise<AdoptOutcome> {
    if (this.deps.isLive(sessionId)) return Promise.resolve('live')
    let p = this.adopting.get(sessionId)
    if (!p) {
      p = this.adoptOnce(sessionId, known).catch((err: unknown) => {
        this.deps.logger.debug({ session: sessionId, err: err instanceof Error ? err.message : String(err) }, 'cannot connect to another replica\'s session')
        return 'not_live' as const
      }).finally(() => this.adopting.delete(sessionId))
      this.adopting.set(sessionId, p)
    }
    return p
  }

  private async adoptOnce(sessionId: string, known: KnownSession | undefined): Promise<AdoptOutcome> {
    const { store } = this.deps
    const s = known?.session ?? await store.getSession(sessionId)
    if (this.stopped || !s || s.state === 'ended' || !s.sandboxId) return 'not_live'
    const pool = this.deps.pools.get(s.pool)
    const sandbox = known ? known.sandbox : await store.getSandbox(s.sandboxId)
    if (!pool || sandbox?.state !== 'claimed' || !sandbox.handle) return 'not_live'
    const channel = await connectWithin(pool.driver, sandbox.handle, RESUME_AGENT_TIMEOUT_MS)
    const { hello } = channel
    if (this.stopped || this.deps.isLive(s.id) || hello.state !== 'claimed' || hello.sessionId !== s.id) {
      channel.close()
      if (this.deps.isLive(s.id)) return 'live'
      return hello.state === 'exited' && (hello.sessionId === undefined || hello.sessionId === s.id) ? 'exited' : 'not_live'
    }
    await this.deps.connected(s, sandbox.handle, channel)
    return 'live'
  }

  /** Connects to the open sessions of the pools whose lease this replica holds, now and every `syncMs`. */
  start(): void {
    if (this.stopped) return
    void this.syncOnce().catch((err: unknown) => this.deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'replica sync of sessions failed'))
      .then(() => {
        if (!this.stopped) this.cancelSync = this.deps.clock.setTimer(this.deps.syncMs, () => this.start())
      })
  }

  stop(): void {
    this.stopped = true
    this.cancelSync?.()
  }

  private async syncOnce(): Promise<void> {
    const { store, pools } = this.deps
    const leads = [...pools.values()].filter((p) => p.controller.leads).map((p) => p.spec.name)
    if (leads.length === 0) return
    const open = [...(await store.listSessions({ state: 'running' })), ...(await store.listSessions({ state: 'starting' }))]
    const queue = open.filter((s) => leads.includes(s.pool) && !this.deps.isLive(s.id))
    if (queue.length === 0) return
    // The sandboxes of all of them in one query a pool, not one read each.
    const sandboxes = new Map<string, SandboxRecord>()
    for (const pool of new Set(queue.map((s) => s.pool))) {
      for (const sb of await store.listSandboxes({ pool, state: 'claimed' })) sandboxes.set(sb.id, sb)
    }
    const worker = async () => {
      for (let s = queue.shift(); s && !this.stopped; s = queue.shift()) {
        const outcome = await this.adopt(s.id, { session: s, sandbox: s.sandboxId ? sandboxes.get(s.sandboxId) : undefined })
        // The shell exited while no replica was connected (its creator died): ended by the lease holder.
        if (outcome === 'exited' && pools.get(s.pool)?.controller.leads) await this.deps.exited(s.id)
      }
    }
    await Promise.all(Array.from({ length: Math.min(ADOPT_CONCURRENCY, queue.length) }, worker))
  }
}
