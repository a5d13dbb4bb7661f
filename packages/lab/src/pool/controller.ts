import type { Logger } from 'pino'
import type { Clock } from '../clock/clock.ts'
import { ChannelProtocolError, type AgentChannel } from '../drivers/channel.ts'
import { DriverError, type SandboxDriver, type SandboxFailureReason } from '../drivers/types.ts'
import type { LabMetrics } from '../observability/metrics.ts'
import { Backoff, type BackoffOptions } from '../policy/backoff.ts'
import { planCreates, TokenBucket } from '../policy/create-budget.ts'
import { claimHistoryFor, decide, type ClaimHistory } from '../policy/index.ts'
import { ClaimRate, windowSOf } from '../policy/observation.ts'
import { dueForRecycle, recycleAtMs } from '../policy/recycle.ts'
import type { PoolCounts, SandboxRecord, Store } from '../store/types.ts'
import { CapacityExhausted, PoolStopped } from './errors.ts'
import { Expectations } from './expectations.ts'
import { newSandboxId } from './ids.ts'
import { countSandboxes, sizeAgainstMax, type PoolSandboxCounts } from './pool-counts.ts'
import { ALWAYS_HELD, type PoolLease } from './lease.ts'
import { ABANDONED_CHECK_MS, AbandonedClaims } from './abandoned-claims.ts'
import { StartLog } from './start-log.ts'
import { SandboxTeardown, type TeardownReason } from './teardown.ts'
import { ClaimWaiters } from './waiters.ts'
import type { PoolSpec } from '../spec/pool-spec.ts'

export const DEFAULT_HELLO_TIMEOUT_MS = 30_000
/** Longest a reconcile sleeps with nothing to wait for (claim-rate windows still slide). */
export const RESYNC_MS = 10_000

export interface PoolControllerOptions {
  readonly spec: PoolSpec
  readonly driver: SandboxDriver
  readonly store: Store
  readonly clock: Clock
  readonly metrics: LabMetrics
  readonly logger: Logger
  readonly helloTimeoutMs?: number
  readonly backoff?: BackoffOptions
  readonly newId?: () => string
  /**
   * Whether this replica runs the pool now (refills, recycling, retiring surplus and lost warm
   * sandboxes); default always (one gateway on its own store). Without it the controller still
   * keeps channels to the pool's warm sandboxes, serves its own claims' waiters and cold starts.
   */
  readonly lease?: PoolLease
  /** Without the lease: how often the pool's warm sandboxes are read back from the store (default 1000). */
  readonly followerSyncMs?: number
}

export const DEFAULT_FOLLOWER_SYNC_MS = 1000

export interface PoolStatus {
  readonly ready: number
  readonly starting: number
  readonly claimed: number
  readonly target: number
  readonly lastError?: string
  readonly backoffUntil?: number
}

/**
 * Keeps one pool at its policy's warm target, while this replica holds the pool's lease. Each pass: read (store) -> decide (policy) ->
 * act idempotently (create up to the concurrency and rate budget, retire surplus and old
 * warm sandboxes, serve claims still waiting) -> write status if it changed -> return the next
 * wake-up. It holds an open AgentChannel to every warm sandbox so a claim needs no new
 * connection, and hands every sandbox it finishes starting to the oldest waiting claim.
 */
export class PoolController {
  readonly spec: PoolSpec
  /** Claims waiting for a sandbox on its way; each create that finishes serves the oldest. */
  readonly waiters: ClaimWaiters
  /** How this pool's sandboxes are torn down (the controller's and its sessions'). */
  readonly teardown: SandboxTeardown
  /** The newest creates that finished, each launch to ready (warm, or handed to the claim waiting for it). */
  readonly starts = new StartLog()
  private readonly o: PoolControllerOptions
  private readonly lease: PoolLease
  private readonly expectations = new Expectations()
  private readonly channels = new Map<string, AgentChannel>()
  /** Sandboxes whose channel a claim took since the current pass began (cleared by each pass). */
  private readonly takenSinceRead = new Set<string>()
  private readonly adopting = new Set<string>()
  private readonly tasks = new Set<Promise<unknown>>()
  private readonly bucket: TokenBucket
  private readonly backoff: Backoff
  private readonly rate = new ClaimRate()
  /** Claim counts for the `predictive` policy (same hour yesterday / last week). */
  private readonly history: ClaimHistory
  private current: PoolStatus = { ready: 0, starting: 0, claimed: 0, target: 0 }
  private lastError: string | undefined
  private pass: Promise<number> | undefined
  private running = false
  private again = false
  private cancelTimer: (() => void) | undefined
  private started = false
  private stopping = false
  private destroyInFlight = false
  private readonly abandoned: AbandonedClaims
  private abandonedCheckedAt = Number.NEGATIVE_INFINITY
  private checkingAbandoned = false

  constructor(options: PoolControllerOptions) {
    this.o = options
    this.spec = options.spec
    this.lease = options.lease ?? ALWAYS_HELD
    this.bucket = new TokenBucket(options.spec.maxCreatesPerMin, options.clock.now())
    this.history = claimHistoryFor(options.spec.policy)
    this.backoff = new Backoff(options.backoff)
    this.waiters = new ClaimWaiters({ pool: options.spec.name, store: options.store, clock: options.clock })
    this.teardown = new SandboxTeardown({ store: options.store, driver: options.driver, logger: options.logger })
    this.abandoned = new AbandonedClaims({ ...options, teardown: this.teardown })
  }

  start(): void {
    this.started = true
    this.schedule(0)
  }

  /**
   * Starts nothing new, waits for in-flight work, closes the warm channels (the sandboxes stay).
   * Claims waiting for a start still in flight get it, unless `destroyInFlight`; then, or once
   * nothing is in flight, PoolStopped.
   */
  async stop(options: { destroyInFlight?: boolean } = {}): Promise<void> {
    this.stopping = true
    this.destroyInFlight = options.destroyInFlight ?? false
    this.cancelTimer?.()
    if (this.destroyInFlight) this.waiters.failAll(new PoolStopped(this.spec.name))
    await this.pass?.catch(() => undefined)
    await this.settled()
    this.waiters.failAll(new PoolStopped(this.spec.name))
    for (const [id, ch] of this.channels) {
      this.channels.delete(id)
      ch.close()
    }
  }

  /** Whether this replica runs the pool now (holds its lease; always, on one gateway alone). */
  get leads(): boolean {
    return this.lease.held()
  }

  /** Runs a reconcile soon (after every claim, session end, create or loss). */
  nudge(): void {
    // Without the lease a pass only keeps this replica's channels and serves its own waiters: with
    // none waiting, the periodic pass (followerSyncMs) is soon enough. Nudged on every claim and
    // every end, a follower would read the whole pool back each time, for nothing.
    if (!this.lease.held() && this.waiters.size === 0) return
    if (this.started && !this.stopping) this.schedule(0)
  }

  /** As of the last reconcile: the target, the last error, and the counts it acted on. */
  status(): PoolStatus {
    return this.current
  }

  /**
   * Every sandbox the pool owns now, from one read of the store plus what only this controller
   * knows (which starts serve a claim). Unlike status(), exact at the moment of the call.
   */
  async sandboxCounts(): Promise<PoolSandboxCounts> {
    const rows = await this.o.store.listSandboxes({ pool: this.spec.name })
    return countSandboxes(rows, (id) => this.expectations.isForClaim(id))
  }

  recordClaim(now: number): void {
    this.rate.recordClaim(now)
    this.history.recordClaim(now)
  }

  /** Hands over the open channel to a sandbox just claimed; the caller owns it from now on. */
  takeWarm(sandboxId: string): AgentChannel | undefined {
    const ch = this.channels.get(sandboxId)
    this.channels.delete(sandboxId)
    this.takenSinceRead.add(sandboxId)
    return ch && !ch.isClosed ? ch : undefined
  }

  /** Resolves when no create, destroy or adoption this controller started is still running. */
  async settled(): Promise<void> {
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks])
  }

  /** Creates this controller started and has not seen finish (refills and cold starts). */
  get inFlight(): number {
    return this.expectations.size
  }

  /** Stopping: starts nothing new, and claims cannot wait. */
  get isStopping(): boolean {
    return this.stopping
  }

  /**
   * The cold path: starts one sandbox now for a claim that registered as a waiter, outside the
   * warm target (the caller checked maxSize). It goes to the oldest waiter when it is warm.
   */
  startForClaim(): void {
    if (this.stopping) throw new PoolStopped(this.spec.name)
    // Failures are handled inside (metrics, back-off, the waiter told); nobody awaits this.
    this.launch(this.newId(), true).catch(() => undefined)
  }

  /** One pass; returns the milliseconds until the next one is due. Passes never overlap. */
  reconcile(): Promise<number> {
    const run = async (): Promise<number> => {
      await this.pass?.catch(() => undefined)
      return this.reconcileOnce()
    }
    const p = run()
    this.pass = p
    return p
  }

  private async reconcileOnce(): Promise<number> {
    const { spec, store } = this.o
    const now = this.o.clock.now()
    if (this.stopping) return RESYNC_MS
    // Channels open before the read: a sandbox among them that is no longer warm was claimed
    // (through another replica: this one's claims take their channel) or retired, so its channel
    // is closed. One opened after the read may be to a sandbox the read missed, and is kept.
    const open = [...this.channels.keys()]
    // Claimed from now on (their channel taken) while the read may still list them warm: not
    // connected to again. Passes never overlap, so what is in the set was taken during this one.
    this.takenSinceRead.clear()
    // The warm rows and the counts of one moment: read apart, a claim in between was counted
    // warm and claimed both, and the pass retired warm sandboxes (or started refused creates).
    const { warm, counts } = await store.warmSnapshot(spec.name)
    const warmIds = new Set(warm.map((s) => s.id))
    for (const id of open) {
      const ch = this.channels.get(id)
      if (!ch || warmIds.has(id)) continue
      this.channels.delete(id)
      ch.close()
    }
    let ready = warm.filter((s) => !this.expectations.has(s.id))
    ready = await this.serveWaiters(ready, counts)
    for (const s of ready) if (!this.channels.has(s.id) && !this.takenSinceRead.has(s.id)) this.adopt(s)

    const inflight = this.expectations.warmCount
    const leader = this.lease.held()
    const decision = decide(spec, {
      ready: ready.length,
      starting: inflight,
      // Cold starts in flight are already their claims' (they count against maxSize as claimed).
      claimed: counts.claimed + this.expectations.size - inflight,
      claimRatePerS: this.rate.ratePerS(now, windowSOf(spec.policy)),
      meanStartS: this.rate.meanStartS(),
      claimHistory: this.history,
    }, now)
    if (!leader) {
      // Another replica runs the pool: this one only keeps its channels and serves its own waiters.
      this.writeStatus({ ready: ready.length, starting: inflight, claimed: counts.claimed, target: decision.target })
      return this.o.followerSyncMs ?? DEFAULT_FOLLOWER_SYNC_MS
    }
    this.checkAbandoned(now)

    // Retire: old warm sandboxes (recycle), then the newest above the target.
    const expired = ready.filter((s) => dueForRecycle(s.createdAt, now, spec.maxWarmAgeS))
    let keep = ready.filter((s) => !expired.includes(s))
    const excess = keep.length + inflight - decision.target
    const surplus = excess > 0 ? [...keep].sort((a, b) => b.createdAt - a.createdAt || (b.id < a.id ? -1 : 1)).slice(0, excess) : []
    keep = keep.filter((s) => !surplus.includes(s))
    let retired = 0
    for (const s of expired) if (await this.retire(s.id, 'recycled', `older than maxWarmAgeS ${spec.maxWarmAgeS}`)) retired++
    for (const s of surplus) if (await this.retire(s.id, 'surplus', `above target ${decision.target}`)) retired++

    // Create: up to the target, the concurrency cap and the rate budget; none while backing off.
    const want = decision.target - (keep.length + inflight)
    const slots = Math.max(0, spec.maxConcurrentCreates - this.expectations.size)
    const plan = planCreates(now, want, slots, this.backoff, this.bucket)
    const toCreate = plan.count
    let next = Math.min(RESYNC_MS, plan.wakeInMs ?? RESYNC_MS)
    // Failures are handled inside (metrics, back-off, lastError); nobody awaits warm creates.
    for (let i = 0; i < toCreate; i++) this.launch(this.newId(), false).catch(() => undefined)
    for (const s of keep) next = Math.min(next, recycleAtMs(s.createdAt, spec.maxWarmAgeS) - now)

    this.writeStatus({ ready: keep.length, starting: inflight + toCreate, claimed: counts.claimed, target: decision.target })
    if (toCreate > 0 || retired > 0) {
      this.o.logger.debug({ pool: spec.name, target: decision.target, why: decision.why, created: toCreate, retired }, 'pool reconciled')
    }
    return Math.max(0, next)
  }

  /**
   * Claims still waiting take ready sandboxes first (one left warm while a claim was deciding to
   * wait). Waiters that no create in flight will serve (another claim took the sandbox meant for
   * them) get a cold start of their own while maxSize allows, and CapacityExhausted beyond it.
   * Returns the ready sandboxes no waiter took.
   */
  private async serveWaiters(ready: SandboxRecord[], counts: PoolCounts): Promise<SandboxRecord[]> {
    if (this.waiters.size === 0) return ready
    const left: SandboxRecord[] = []
    for (const s of ready) {
      if (this.waiters.size === 0 || !(await this.waiters.handOff(s.id))) left.push(s)
    }
    const unserved = this.waiters.size - this.expectations.size
    if (unserved <= 0 || this.stopping) return left
    const room = Math.max(0, this.spec.maxSize - sizeAgainstMax(counts, this.expectations.size))
    for (let i = 0; i < unserved; i++) {
      if (i < room) this.startForClaim()
      else this.waiters.failNewest(new CapacityExhausted(this.spec.name, this.spec.maxSize))
    }
    return left
  }

  /**
   * Under the lease, every ABANDONED_CHECK_MS at most, in the background: sessions left
   * `starting` by a creator that died mid-claim (abandoned-claims.ts).
   */
  private checkAbandoned(now: number): void {
    if (this.checkingAbandoned || now - this.abandonedCheckedAt < ABANDONED_CHECK_MS) return
    this.checkingAbandoned = true
    this.abandonedCheckedAt = now
    this.track(this.abandoned.check().then(
      (outcomes) => {
        if ([...outcomes.values()].includes('ended')) this.nudge()
      },
      (err: unknown) => this.o.logger.warn({ pool: this.spec.name, err: err instanceof Error ? err.message : String(err) }, 'checking for abandoned claims failed'),
    ).finally(() => {
      this.checkingAbandoned = false
    }))
  }

  private writeStatus(s: { ready: number; starting: number; claimed: number; target: number }): void {
    const backoffUntil = this.backoff.backoffUntil
    const next: PoolStatus = { ...s, ...(this.lastError ? { lastError: this.lastError } : {}), ...(backoffUntil ? { backoffUntil } : {}) }
    const c = this.current
    if (c.ready === next.ready && c.starting === next.starting && c.claimed === next.claimed && c.target === next.target
      && c.lastError === next.lastError && c.backoffUntil === next.backoffUntil) return
    this.current = next
    const { poolSandboxes, poolTarget } = this.o.metrics
    const pool = this.spec.name
    poolSandboxes.set({ pool, state: 'ready' }, next.ready)
    poolSandboxes.set({ pool, state: 'starting' }, next.starting)
    poolSandboxes.set({ pool, state: 'claimed' }, next.claimed)
    poolTarget.set({ pool }, next.target)
  }

  /**
   * Starts one create in the background; it settles when the sandbox is warm (and handed to the
   * oldest waiting claim, if any) or cleaned up.
   */
  private launch(id: string, forClaim: boolean): Promise<void> {
    this.expectations.add(id, this.o.clock.now(), forClaim)
    let full = false
    return this.track(this.createOne(id).catch((err: unknown) => {
      full = err instanceof CapacityExhausted
      throw err
    }).finally(() => {
      this.expectations.done(id)
      // A start the pool had no room for changed nothing: the next claim, end or resync reconciles.
      if (!full) this.nudge()
    }))
  }

  private async createOne(id: string): Promise<void> {
    const { spec, store, driver, clock } = this.o
    const t0 = clock.now()
    try {
      // Within maxSize counted over every replica's sandboxes, at the moment of the insert.
      if (!(await store.insertSandboxWithin({ id, pool: spec.name, createdAt: t0 }, spec.maxSize))) {
        throw new CapacityExhausted(spec.name, spec.maxSize)
      }
      const handle = await driver.create({
        id, pool: spec.name, limits: spec.limits, network: spec.network, helloTimeoutMs: this.o.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS,
      })
      if (this.stopping && this.destroyInFlight) throw new PoolStopped(spec.name)
      let channel: AgentChannel
      try {
        channel = await driver.connect(handle)
      } catch (err) {
        throw err instanceof DriverError ? err : new DriverError('unavailable', `cannot reach new sandbox ${id}: ${String(err)}`, { cause: err })
      }
      await store.markSandboxWarm(id, handle, clock.now())
      this.watch(id, channel)
      const startMs = handle.startMs ?? clock.now() - t0
      this.rate.recordStart(startMs)
      this.o.metrics.sandboxStartDuration.observe({ driver: driver.name }, startMs / 1000)
      this.backoff.success()
      this.lastError = undefined
    } catch (err) {
      const full = err instanceof CapacityExhausted // nothing was written or started
      if (!(err instanceof PoolStopped) && !full) this.createFailed(id, err)
      // The oldest waiter would have had this sandbox: it hears why, unless another start is on its way for it.
      if (this.waiters.size > this.expectations.size - 1) this.waiters.failOldest(err)
      if (full) this.o.logger.debug({ pool: spec.name, sandbox: id, maxSize: spec.maxSize }, 'no start: the pool is at maxSize')
      else await this.teardown.destroy(id, 'create_failed')
      throw err
    }
    // Still counted in flight until handed over, so no reconcile counts it as ready meanwhile.
    await this.waiters.handOff(id)
    this.starts.record(t0, clock.now() - t0)
  }

  private createFailed(id: string, err: unknown): void {
    const reason: SandboxFailureReason = err instanceof DriverError ? err.reason : 'create_failed'
    const message = err instanceof Error ? err.message : String(err)
    this.o.metrics.sandboxFailures.inc({ driver: this.o.driver.name, reason })
    this.lastError = `${reason}: ${message}`
    const until = this.backoff.failure(this.o.clock.now())
    this.o.logger.warn({ pool: this.spec.name, sandbox: id, reason, err: message, backoffUntil: until }, 'sandbox create failed; backing off')
  }

  /**
   * Keeps the channel of a warm sandbox; if it closes while still warm, or its shell exits (it
   * could never take a claim), the sandbox is lost. Once a claim took the channel, the session's.
   */
  private watch(id: string, channel: AgentChannel): void {
    if (this.stopping) {
      channel.close()
      return
    }
    this.channels.set(id, channel)
    const onLost = (reason: 'exited_early' | 'protocol_error') => {
      if (this.channels.get(id) !== channel || this.stopping) return
      this.channels.delete(id)
      channel.close()
      this.track(this.lost(id, reason))
    }
    channel.once('close', (err) => onLost(err instanceof ChannelProtocolError ? 'protocol_error' : 'exited_early'))
    channel.on('message', (m) => {
      if (m.type === 'exit') onLost('exited_early')
    })
    if (channel.isClosed) onLost(channel.closeError instanceof ChannelProtocolError ? 'protocol_error' : 'exited_early') // closed before the listener
    else if (channel.hello.state !== 'warm') onLost('exited_early') // e.g. adopted after a restart with its shell gone
  }

  /** Connects to a warm sandbox this controller did not start (e.g. before a gateway restart). */
  private adopt(s: SandboxRecord): void {
    if (this.adopting.has(s.id) || !s.handle) return
    this.adopting.add(s.id)
    this.track(this.o.driver.connect(s.handle).then(
      (ch) => this.watch(s.id, ch),
      (err: unknown) => this.lost(s.id, err instanceof DriverError && err.reason === 'protocol_error' ? 'protocol_error' : 'exited_early'),
    ).finally(() => this.adopting.delete(s.id)))
  }

  private async lost(id: string, reason: 'exited_early' | 'protocol_error'): Promise<void> {
    // A channel of this replica's closed, perhaps only this one: the replica that runs the pool
    // sees a sandbox that is really gone. A broken protocol is a compromised sandbox whoever sees it.
    if (reason === 'exited_early' && !this.lease.held()) return
    const retiring = await this.teardown.retireWarm(id, 'lost')
    if (!retiring) return // claimed meanwhile: the session owns it
    this.o.metrics.sandboxFailures.inc({ driver: this.o.driver.name, reason })
    this.o.logger.warn({ pool: this.spec.name, sandbox: id, reason }, reason === 'protocol_error'
      ? 'warm sandbox broke the agent protocol; destroying it as compromised'
      : 'warm sandbox lost; replacing it')
    await retiring.destroyed
    this.nudge()
  }

  /** warm -> destroying -> gone (in the background); false if a claim took the sandbox first. */
  private async retire(id: string, reason: TeardownReason, why: string): Promise<boolean> {
    const retiring = await this.teardown.retireWarm(id, reason)
    if (!retiring) return false
    const ch = this.channels.get(id)
    this.channels.delete(id)
    ch?.close()
    this.o.logger.info({ pool: this.spec.name, sandbox: id, why }, 'retiring warm sandbox')
    this.track(retiring.destroyed)
    return true
  }

  private track<T>(p: Promise<T>): Promise<T> {
    const tracked = p.finally(() => this.tasks.delete(tracked))
    tracked.catch(() => undefined)
    this.tasks.add(tracked)
    return p
  }

  private schedule(ms: number): void {
    this.cancelTimer?.()
    this.cancelTimer = this.o.clock.setTimer(ms, () => void this.tick())
  }

  private async tick(): Promise<void> {
    if (this.stopping) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = true
    let next = RESYNC_MS
    try {
      next = await this.reconcile()
    } catch (err) {
      this.lastError = `reconcile: ${err instanceof Error ? err.message : String(err)}`
      this.o.logger.error({ pool: this.spec.name, err: this.lastError }, 'reconcile failed')
      next = 1000
    } finally {
      this.running = false
    }
    if (this.stopping) return
    if (this.again) {
      this.again = false
      next = 0
    }
    this.schedule(next)
  }

  private newId(): string {
    return (this.o.newId ?? newSandboxId)()
  }
}
