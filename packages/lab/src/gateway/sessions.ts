import { performance } from 'node:perf_hooks'
import type { Logger } from 'pino'
import type { WebSocket } from 'ws'
import type { Clock } from '../clock/clock.ts'
import type { Ready } from '@infra-lab/protocol'
import type { AgentOps } from '../drivers/agent-ops.ts'
import { ChannelProtocolError, type AgentChannel } from '../drivers/channel.ts'
import { DriverError, type SandboxHandle } from '../drivers/types.ts'
import type { LabMetrics } from '../observability/metrics.ts'
import { toCapacityError } from './capacity-error.ts'
import { toView, type Attach, type SessionView } from './session-view.ts'
export { toView, type Attach, type SessionView }
import { bridgeSocket } from './terminal-socket.ts'
import { QuotaRefused, type Claimed, type EndedReason, type NewSession, type SessionRecord, type Store } from '../store/types.ts'
import { admissionFor, requireCovers, type Principal } from './principal.ts'
import { newSecretToken, safeEqual, sha256Hex } from './auth.ts'
import { ApiError, WS_CLOSE, type ErrorDetail } from './errors.ts'
import { newId } from './ids.ts'
import type { PoolRuntime } from '../pool/runtime.ts'
import type { PoolSpec } from '../spec/pool-spec.ts'
import type { CreateSessionBody } from './schemas.ts'
import type { PreparedNetwork, SessionNetworks } from './session-network.ts'
import { TerminalHub } from './terminal-hub.ts'
import { controlFrame } from './terminal-frames.ts'
import { nextDeadline, sweepStep, timeoutsOf, type SessionTimeouts, type SweepStep, type TimeoutReason } from './session-deadline.ts'
import { RESUME_AGENT_TIMEOUT_MS, SessionResumer, type ResumeOutcome } from './session-resume.ts'
import { connectWithin } from '../drivers/connect-within.ts'
import { ReplicaSessions } from './replica-sessions.ts'
import { CLAIM_AGENT_TIMEOUT_MS } from '../pool/claim-timeout.ts'

interface Live {
  readonly sessionId: string
  readonly pool: string
  readonly user: string
  readonly sandboxId: string
  readonly handle: SandboxHandle
  readonly hub: TerminalHub
  /** Its limits as the sweep applies them; a keepalive moves `expiresAt`. */
  timeouts: SessionTimeouts
  /** The deadline its terminal was last warned of (`expiring`), so each is warned of once. */
  warnedFor: number | undefined
  /**
   * Replicas: the hub's activity when this replica began to track the session. Connecting to
   * another replica's session is not activity: only what the hub sees after this moment is.
   */
  readonly activityFrom: number
  /** Replicas: the latest activity any replica recorded in the store, as this one last read it. */
  sharedActivity: number
  /** Replicas: the latest of this replica's activity it wrote to the store. */
  recordedActivity: number
  /** Settles when the agent has applied the claim (at once for a resumed session). */
  readonly applied: Promise<unknown>
  ending: boolean
}

/** The fields of a session's record its live entry is made from. */
type Tracked = Pick<SessionRecord, 'id' | 'pool' | 'user' | 'createdAt' | 'expiresAt' | 'idleTimeoutS'>

export interface SessionServiceDeps {
  readonly store: Store
  readonly pools: ReadonlyMap<string, PoolRuntime>
  readonly clock: Clock
  readonly metrics: LabMetrics
  readonly logger: Logger
  readonly attachTokenTtlS: number
  /** Binds network policies and credentials to sandboxes at claim time (and after a restart). */
  readonly networks: SessionNetworks
  readonly limits: SessionLimits
  /**
   * Replicas share the store: any of them may be asked for any session, so a replica connects to
   * another's session when a request for it arrives, and the lease holder of a pool to every open
   * session of that pool (every `syncMs`: ReplicaSessions); a lost connection of its own is tried
   * again before the session is given up, and only the replica whose end wins in the store
   * destroys the sandbox.
   */
  readonly replicated?: { readonly syncMs: number }
}

export interface SessionLimits {
  /** Sessions not ended one user may have, whichever key created them. */
  readonly maxSessionsPerUser: number
  /** The most a create's `timeoutS` or `idleTimeoutS` may ask for, and the longest a keepalive extends a lifetime to. */
  readonly maxSessionTimeoutS: number
}

/** Who ends a session: the key that asked, or the gateway itself. */
export interface EndedBy {
  readonly actor: string
  readonly keyId: string | null
}

/** How long a lost session waits for its driver to say why (`lostReason`) before ending as sandbox_lost. */
export const LOST_REASON_TIMEOUT_MS = 2000
/** How long an attach (or end) waits for its session to be resumed after a restart before 503. */
export const RESUME_WAIT_MS = 3000

/** Sessions: the claim path, attach tokens, terminal bridging, and how sessions end. */
export class SessionService {
  private readonly live = new Map<string, Live>()
  private readonly resumer: SessionResumer
  private sweeping: Promise<void> = Promise.resolve()
  private stopped = false
  /** Ends under way: a second caller shares the first one's outcome, failure included. */
  private readonly ending = new Map<string, Promise<void>>()
  /** Replicas only: connecting to sessions other replicas created. */
  private readonly replica: ReplicaSessions | undefined

  constructor(private readonly deps: SessionServiceDeps) {
    this.resumer = new SessionResumer((s) => this.resumeOne(s), deps.logger)
    this.replica = deps.replicated && new ReplicaSessions({
      store: deps.store, pools: deps.pools, clock: deps.clock, logger: deps.logger, syncMs: deps.replicated.syncMs,
      isLive: (id) => this.live.has(id),
      connected: async (s, handle, channel) => {
        await this.deps.networks.rebind(s, handle)
        this.track(s, handle, new TerminalHub(channel, deps.clock.now(), () => deps.clock.now(), { seenAllOutput: false }), Promise.resolve())
        this.deps.metrics.sessionsActive.inc({ pool: s.pool })
      },
      exited: (id) => this.end(id, 'exited'),
    })
  }

  /** The per-user and timeout limits every create is held to. */
  get limits(): SessionLimits {
    return this.deps.limits
  }

  /** The spec of a pool this gateway runs, if it still does. */
  poolSpec(name: string): PoolSpec | undefined {
    return this.deps.pools.get(name)?.spec
  }

  pool(name: string): PoolRuntime {
    const p = this.deps.pools.get(name)
    if (!p) throw new ApiError('pool_not_found', `no pool named "${name}"`)
    return p
  }

  /**
   * One claim attempt: a warm sandbox of the pool (else a cold start), its channel, the
   * workspace bound and the claim sent. A sandbox that fails here is destroyed and its session
   * ended as claim_failed (SandboxClaimFailed); running out of capacity is an ApiError.
   */
  private async claimOnce(
    pool: PoolRuntime, body: CreateSessionBody, caller: Principal, network: PreparedNetwork, lap: (name: string, since: number) => number, since: number,
    signal: AbortSignal | undefined,
  ): Promise<ClaimAttempt> {
    const { store, clock, metrics, logger } = this.deps
    const poolName = pool.spec.name
    // The proxy's address first (ECS shells learn it with the claim): the caller's own env may override it.
    const env = { ...this.deps.networks.claimEnv(pool.spec, network), ...body.env }
    const secrets = body.secrets ?? {}
    const id = newId('ses')
    const sealedCredentials = this.deps.networks.seal(id, network)
    // The first attach token is stored by the claim's own transaction: one commit on the path.
    const { attach, record: attachToken } = this.newAttach(id)
    const createdAt = clock.now()
    const lifetimeS = body.timeoutS ?? pool.spec.maxLifetimeS
    const idleS = body.idleTimeoutS ?? pool.spec.idleTimeoutS
    const newSession: NewSession = {
      id,
      user: body.user,
      pool: poolName,
      createdAt,
      envNames: [...Object.keys(body.env ?? {}), ...Object.keys(secrets)],
      attachToken,
      ...(network.policy ? { network: network.policy } : {}),
      ...(sealedCredentials ? { sealedCredentials } : {}),
      ...(caller.keyId !== null ? { keyId: caller.keyId } : {}),
      actor: caller.name,
      ...(body.labels ? { labels: body.labels } : {}),
      ...(lifetimeS > 0 ? { expiresAt: createdAt + lifetimeS * 1000 } : {}),
      ...(idleS > 0 ? { idleTimeoutS: idleS } : {}),
      admission: admissionFor(caller, this.deps.limits.maxSessionsPerUser),
    }

    // The pool decides: a warm sandbox (one store transaction), a cold start, or a wait for a start on its way.
    let poolClaim
    try {
      poolClaim = await pool.claim(newSession, signal)
    } catch (err) {
      metrics.claims.inc({ pool: poolName, result: 'rejected' })
      throw err instanceof QuotaRefused ? quotaError(err) : toCapacityError(err, pool)
    }
    const { claimed, warm } = poolClaim
    let t = lap(warm ? 'storeClaimMs' : 'coldStartMs', since)
    const sandbox = claimed.sandbox
    const handle = sandbox.handle

    let channel: AgentChannel | undefined = poolClaim.channel
    try {
      if (!handle) throw new Error(`sandbox ${sandbox.id} has no handle`)
      const ch: AgentChannel = channel ?? (await pool.driver.connect(handle))
      channel = ch
      // The hub listens before the claim is sent, so it mirrors every byte of the session.
      const hub = new TerminalHub(ch, clock.now(), () => clock.now(), { seenAllOutput: true })
      t = lap('connectMs', t)
      const binding = await pool.driver.bindWorkspace(handle, body.user)
      // The policy is bound now, before the shell can run anything: no per-claim namespace work.
      this.deps.networks.bind(newSession.id, poolName, handle, network)
      t = lap('bindWorkspaceMs', t)
      // Sent now, answered in about a millisecond: the response does not wait for `ready`
      // (the session is `starting` until it arrives), so the agent applies the claim while
      // the client reads this response and opens the terminal. See docs/design.md.
      const claimSentAt = performance.now()
      const applied = ch.claim({ sessionId: newSession.id, user: body.user, home: binding.home, env, secrets }, CLAIM_AGENT_TIMEOUT_MS)
      applied.catch(() => undefined) // handled by create(); never an unhandled rejection
      lap('claimSendMs', t)
      return { newSession, claimed, handle, hub, applied, claimSentAt, warm, attach }
    } catch (err) {
      logger.error({ err: errMessage(err), session: newSession.id, sandbox: sandbox.id }, 'claim failed; destroying the sandbox')
      channel?.close()
      this.deps.networks.unbind(newSession.id)
      await store.endSession(newSession.id, 'claim_failed', clock.now())
      await pool.retire(sandbox.id, 'claim_failed')
      throw new SandboxClaimFailed(new ApiError('claim_failed', `could not start the session's shell: ${errMessage(err)}`))
    }
  }

  /**
   * The claim path: warm sandbox if one is ready, else a cold start within claimTimeoutMs. A
   * sandbox that fails its claim before the answer is destroyed and the claim tried once more,
   * on another sandbox (warm or cold), so the caller does not pay for a broken sandbox.
   */
  async create(body: CreateSessionBody, caller: Principal, signal?: AbortSignal): Promise<SessionView & { attach: Attach }> {
    const { store, metrics, logger } = this.deps
    const t0 = performance.now()
    const timings: Record<string, number> = {}
    const lap = (name: string, since: number): number => {
      const t = performance.now()
      timings[name] = round(t - since)
      return t
    }
    const poolName = body.pool ?? 'default'
    requireCovers(caller, { user: body.user, pool: poolName })
    const pool = this.pool(poolName)
    this.checkTimeouts(body)
    // Refused before anything is claimed: a 400 costs no sandbox.
    const network = this.deps.networks.prepare(pool.spec, body)

    let attempt: ClaimAttempt
    try {
      attempt = await this.claimOnce(pool, body, caller, network, lap, t0, signal)
    } catch (err) {
      if (!(err instanceof SandboxClaimFailed)) throw err
      try {
        attempt = await this.claimOnce(pool, body, caller, network, lap, lap('failedClaimMs', t0), signal)
      } catch (again) {
        if (!(again instanceof SandboxClaimFailed)) throw again
        metrics.claims.inc({ pool: poolName, result: 'rejected' })
        throw again.apiError
      }
    }
    const { newSession, claimed, handle, hub, applied, claimSentAt, warm, attach } = attempt
    const sandbox = claimed.sandbox

    this.track({ ...newSession, expiresAt: newSession.expiresAt ?? null, idleTimeoutS: newSession.idleTimeoutS ?? null }, handle, hub, applied)
    timings.claimMs = round(performance.now() - t0)
    const claimTimings = { ...timings }
    // The timings are written after the response, with the agent's answer: not a commit of their own on the path.
    void applied.then(
      async (ready) => {
        timings.agentReadyMs = round(performance.now() - claimSentAt)
        timings.agentApplyMs = round(ready.applyMs)
        // After the I/O already waiting (the prompt right behind `ready`, the client's terminal
        // upgrade): the commit is not on their path.
        await new Promise<void>((resolve) => setImmediate(resolve))
        await store.markSessionRunning(newSession.id, timings, this.deps.clock.now())
      },
      async (err: unknown) => {
        logger.error({ err: errMessage(err), session: newSession.id, sandbox: sandbox.id }, 'the agent did not apply the claim; ending the session')
        await store.markSessionTimings(newSession.id, timings)
        await this.end(newSession.id, 'claim_failed')
      },
    ).catch((err: unknown) => this.logEndError(newSession.id, err))

    const path = warm ? 'warm' : 'cold'
    metrics.claims.inc({ pool: poolName, result: path })
    metrics.claimDuration.observe({ pool: poolName, path }, timings.claimMs / 1000)
    metrics.sessionsActive.inc({ pool: poolName })
    logger.info({ session: newSession.id, user: body.user, pool: poolName, sandbox: sandbox.id, warm, claimMs: timings.claimMs }, 'session started')

    // The session as the claim wrote it (still `starting`: `ready` cannot have been read yet).
    return { ...this.view({ ...claimed.session, timings: claimTimings }), attach }
  }

  /** A create's own timeouts may exceed its pool's, never the server's maximum: 400 naming the field. */
  private checkTimeouts(body: CreateSessionBody): void {
    const max = this.deps.limits.maxSessionTimeoutS
    const details = (['timeoutS', 'idleTimeoutS'] as const)
      .filter((f) => (body[f] ?? 0) > max)
      .map((field) => ({ field, message: `must be at most ${max} (the gateway's maxSessionTimeoutS)` }))
    if (details.length > 0) throw timeoutError(details)
  }

  /** A session as the API shows it, with when it goes idle if it is live here. */
  view(s: SessionRecord): SessionView {
    const live = this.live.get(s.id)
    const idleS = live?.timeouts.idleTimeoutS ?? null
    return toView(s, live && idleS !== null ? this.activityOf(live) + idleS * 1000 : undefined)
  }

  async get(id: string): Promise<SessionRecord> {
    const s = await this.deps.store.getSession(id)
    if (!s) throw new ApiError('session_not_found', `no session with id ${id}`)
    return s
  }

  async issueAttach(sessionId: string): Promise<Attach> {
    const s = await this.get(sessionId)
    if (s.state === 'ended') throw new ApiError('session_ended', `session ${sessionId} ended (${s.endedReason})`)
    const { attach, record } = this.newAttach(sessionId)
    await this.deps.store.putAttachToken({ ...record, sessionId })
    return attach
  }

  /** A fresh attach token: what the caller gets, and what the store keeps (its hash). */
  private newAttach(sessionId: string): { attach: Attach; record: { tokenHash: string; expiresAt: number } } {
    const token = newSecretToken()
    const expiresAt = this.deps.clock.now() + this.deps.attachTokenTtlS * 1000
    return {
      attach: { url: `/v1/sessions/${sessionId}/terminal`, token, expiresAt: new Date(expiresAt).toISOString() },
      record: { tokenHash: sha256Hex(token), expiresAt },
    }
  }

  /** Checks an attach token for this session; throws invalid_token otherwise. */
  async verifyAttachToken(sessionId: string, token: string): Promise<SessionRecord> {
    // The token and its session in one read: one round trip to the store on a terminal's attach.
    const found = await this.deps.store.getAttachTokenSession(sha256Hex(token))
    const rec = found?.token
    if (!rec || !safeEqual(rec.sessionId, sessionId) || rec.expiresAt <= this.deps.clock.now()) {
      throw new ApiError('invalid_token', 'attach token missing, wrong, expired, or for another session')
    }
    if (!(await this.resumer.wait(sessionId, RESUME_WAIT_MS))) {
      throw new ApiError('session_unavailable', `session ${sessionId} is still being reconnected after a gateway restart`, undefined, 1)
    }
    if (this.deps.replicated) await this.adopt(sessionId)
    // A session live here is as it was read; one that is not (reconnected, adopted or lost
    // meanwhile) is read again, after the wait.
    if (found.session && this.live.has(sessionId)) return found.session
    return this.get(sessionId)
  }

  /**
   * The agent of a session, for exec and file calls. A `starting` session's call waits behind
   * its claim (so create then exec never races), and one being reconnected after a restart waits
   * as an attach does; then 503 session_unavailable.
   */
  async agent(sessionId: string): Promise<AgentOps> {
    if (!(await this.resumer.wait(sessionId, RESUME_WAIT_MS))) {
      throw new ApiError('session_unavailable', `session ${sessionId} is still being reconnected after a gateway restart`, undefined, 1)
    }
    const ended = (s: SessionRecord) => new ApiError('session_ended', `session ${sessionId} ended (${s.endedReason ?? 'claim_failed'})`)
    let s = await this.get(sessionId)
    if (s.state === 'ended') throw ended(s)
    if (this.deps.replicated) await this.adopt(sessionId)
    const live = this.live.get(sessionId)
    // a claim that failed ends its session: the call sees it ended, as a later one would
    const ok = live ? await live.applied.then(() => !live.ending, () => false) : false
    if (live && ok) return live.hub.channel.ops
    s = await this.get(sessionId)
    if (s.state === 'ended' || live) throw ended(s)
    throw new ApiError('session_unavailable', `session ${sessionId} is not connected to this gateway`, undefined, 1)
  }

  /** Connects a verified WebSocket to the session's terminal. */
  attachSocket(session: SessionRecord, ws: WebSocket): void {
    const live = this.live.get(session.id)
    if (session.state === 'ended' || !live) {
      ws.send(controlFrame({ type: 'exit', code: null, reason: session.endedReason ?? 'sandbox_lost' }))
      ws.close(WS_CLOSE.normal)
      return
    }
    bridgeSocket(live.hub, ws)
    // A viewer arriving after the warning hears it too, with the time left now.
    const d = nextDeadline(live.timeouts, this.activityOf(live))
    if (d && d.at === live.warnedFor) {
      live.hub.deliver(ws, controlFrame({ type: 'expiring', reason: d.reason, inS: Math.max(0, Math.ceil((d.at - this.deps.clock.now()) / 1000)) }))
    }
  }

  /** Ends a session (idempotent): tells viewers, stops the shell, destroys the sandbox. */
  end(sessionId: string, reason: EndedReason, exitCode: number | null = null, by?: EndedBy): Promise<void> {
    let p = this.ending.get(sessionId)
    if (!p) {
      p = this.endOnce(sessionId, reason, exitCode, by).finally(() => this.ending.delete(sessionId))
      this.ending.set(sessionId, p)
    }
    return p
  }

  private async endOnce(sessionId: string, reason: EndedReason, exitCode: number | null, by: EndedBy | undefined): Promise<void> {
    const { store, clock, metrics, logger } = this.deps
    // Right after a restart: let the session be reconnected first, so ending it also destroys its
    // sandbox. If that takes too long, the resume finds the session ended and destroys it then.
    if (this.resumer.isPending(sessionId)) await this.resumer.wait(sessionId, RESUME_WAIT_MS)
    // Another replica's session: connected first, so its viewers here hear the end too.
    if (this.deps.replicated && !this.live.has(sessionId) && reason !== 'sandbox_lost') await this.adopt(sessionId)
    const live = this.live.get(sessionId)
    if (live) {
      if (live.ending) return
      live.ending = true
    }
    let ended: boolean
    try {
      ended = await store.endSession(sessionId, reason, clock.now(), by)
    } catch (err) {
      // Not recorded (the store is down): the session stays live, so a retried end writes it.
      if (live) live.ending = false
      throw err
    }
    if (ended) logger.info({ session: sessionId, reason }, 'session ended')
    this.deps.networks.unbind(sessionId)
    if (!live) {
      // Replicas: a session this one could not connect to still loses its sandbox with its end.
      if (ended && this.deps.replicated) await this.retireSandboxOf(sessionId)
      return
    }
    this.live.delete(sessionId)
    metrics.sessionsActive.dec({ pool: live.pool })
    live.hub.closeAll(WS_CLOSE.normal, controlFrame({ type: 'exit', code: exitCode, reason }))
    live.hub.channel.close()
    // Replicas: every one of them hears the shell exit; the one whose end won destroys the sandbox.
    if (!this.deps.replicated || ended) await this.deps.pools.get(live.pool)?.retire(live.sandboxId, 'session_ended')
  }

  private async retireSandboxOf(sessionId: string): Promise<void> {
    const s = await this.deps.store.getSession(sessionId)
    if (s?.sandboxId) await this.deps.pools.get(s.pool)?.retire(s.sandboxId, 'session_ended')
  }

  /** Replicas: connects this replica to another's session (ReplicaSessions); true when it is live here. */
  private async adopt(sessionId: string): Promise<boolean> {
    return (await this.replica?.adopt(sessionId)) === 'live'
  }

  /** Replicas: connects to the open sessions of the pools this replica runs, now and every `syncMs`. */
  startSync(): void {
    this.replica?.start()
  }

  /**
   * After a gateway restart: reconnects the shells of running sessions, several at a time and each
   * within RESUME_AGENT_TIMEOUT_MS. Meant to run after the API is listening: requests for a
   * session not reconnected yet wait for it (RESUME_WAIT_MS), then get 503 session_unavailable.
   */
  async resume(): Promise<{ resumed: number; ended: number }> {
    const { store } = this.deps
    const open = [...(await store.listSessions({ state: 'running' })), ...(await store.listSessions({ state: 'starting' }))]
    return this.resumer.run(open)
  }

  private async resumeOne(s: SessionRecord): Promise<ResumeOutcome> {
    const { store, logger, clock } = this.deps
    const pool = this.deps.pools.get(s.pool)
    const sandbox = s.sandboxId ? await store.getSandbox(s.sandboxId) : undefined
    if (!pool || !sandbox?.handle) {
      await store.endSession(s.id, 'sandbox_lost', clock.now())
      return 'ended'
    }
    let channel: AgentChannel
    try {
      channel = await connectWithin(pool.driver, sandbox.handle, RESUME_AGENT_TIMEOUT_MS)
    } catch (err) {
      if (err instanceof DriverError && err.reason === 'protocol_error') this.countProtocolError(pool, sandbox.id, err.message)
      else logger.warn({ session: s.id, err: errMessage(err) }, 'cannot reach the shell of a running session; ending it')
      await store.endSession(s.id, 'sandbox_lost', clock.now())
      await pool.retire(sandbox.id, 'resume_failed')
      return 'ended'
    }
    const now = await store.getSession(s.id)
    if (this.stopped || !now || now.state === 'ended' || channel.hello.state !== 'claimed' || channel.hello.sessionId !== s.id) {
      channel.close()
      if (this.stopped && now?.state !== 'ended') return 'resumed' // the next start resumes it
      const reason = channel.hello.state === 'exited' ? 'exited' : channel.hello.state === 'warm' ? 'claim_failed' : 'sandbox_lost'
      await store.endSession(s.id, reason, clock.now())
      await pool.retire(sandbox.id, 'resume_failed')
      return 'ended'
    }
    if (now.state === 'starting') await store.markSessionRunning(s.id, now.timings, this.deps.clock.now())
    await this.deps.networks.rebind(now, sandbox.handle)
    this.track(now, sandbox.handle, new TerminalHub(channel, clock.now(), () => clock.now(), { seenAllOutput: false }), Promise.resolve())
    this.deps.metrics.sessionsActive.inc({ pool: s.pool })
    return 'resumed'
  }

  /** A sandbox whose agent broke the protocol is compromised: counted, logged, and destroyed by the caller. */
  private countProtocolError(pool: PoolRuntime, sandboxId: string, why: string): void {
    this.deps.metrics.sandboxFailures.inc({ driver: pool.driver.name, reason: 'protocol_error' })
    this.deps.logger.warn({ pool: pool.spec.name, sandbox: sandboxId, err: why }, 'agent broke the protocol; destroying the sandbox as compromised')
  }

  /**
   * Ends sessions past their maximum lifetime or idle timeout, and warns the terminal (and the
   * event log) of each such end EXPIRING_WARNING_S before. Sweeps run one after another, each
   * on the clock's time when it starts.
   */
  sweep(): Promise<void> {
    // a failed sweep is its caller's to report; the next one runs regardless
    this.sweeping = this.sweeping.catch(() => undefined).then(() => this.sweepOnce())
    return this.sweeping
  }

  private async sweepOnce(): Promise<void> {
    const now = this.deps.clock.now()
    if (this.deps.replicated) await this.recordActivity()
    let due = [...this.live.values()].filter((live) => !live.ending && this.stepOf(live, now) !== undefined)
    // Replicas: before acting, the store's view of the due ones (activity and keepalives through other replicas).
    if (this.deps.replicated && due.length > 0) due = await this.refreshTimers(due)
    // Ends run side by side: a slow sandbox teardown must not hold back another session's warning.
    const ends: Promise<void>[] = []
    for (const live of due) {
      if (live.ending) continue
      const step = this.stepOf(live, now)
      if (step?.kind === 'end') ends.push(this.end(live.sessionId, step.reason).catch((err) => this.logEndError(live.sessionId, err)))
      else if (step?.kind === 'warn') {
        // Every replica warns its own viewers; the event is written by the one that records the warning.
        live.warnedFor = step.deadline
        live.hub.broadcast(controlFrame({ type: 'expiring', reason: step.reason, inS: step.inS }))
        await this.recordWarning(live, step, now)
      }
    }
    await Promise.all(ends)
  }

  private stepOf(live: Live, now: number): SweepStep | undefined {
    return sweepStep(nextDeadline(live.timeouts, this.activityOf(live)), now, live.warnedFor)
  }

  /**
   * When the session was last used. One gateway: what its hub saw. Replicas: the latest of what
   * any replica recorded and what this one's hub saw since it began to track the session; a
   * session with neither counts from its creation.
   */
  private activityOf(live: Live): number {
    const local = live.hub.lastActivityMs
    if (!this.deps.replicated) return local
    return local > live.activityFrom ? Math.max(local, live.sharedActivity) : live.sharedActivity
  }

  /** Replicas: writes this replica's activity of its sessions since the last sweep, in one call. */
  private async recordActivity(): Promise<void> {
    const fresh: { live: Live; at: number }[] = []
    for (const live of this.live.values()) {
      const at = live.hub.lastActivityMs
      if (at > live.activityFrom && at > live.recordedActivity) fresh.push({ live, at })
    }
    if (fresh.length === 0) return
    try {
      await this.deps.store.recordSessionActivity(fresh.map((f) => ({ id: f.live.sessionId, at: f.at })))
    } catch (err) {
      // Written by the next sweep; meanwhile other replicas may see the sessions idle for longer.
      this.deps.logger.warn({ err: errMessage(err), sessions: fresh.length }, 'could not record session activity')
      return
    }
    for (const f of fresh) f.live.recordedActivity = f.at
  }

  /**
   * Replicas: reads the store's timers of sessions this replica would warn or end, so a session
   * used or kept alive through another replica is not. Those ended meanwhile are left out: their
   * end reaches this replica through its channel.
   */
  private async refreshTimers(due: Live[]): Promise<Live[]> {
    const timers = new Map((await this.deps.store.getSessionTimers(due.map((l) => l.sessionId))).map((t) => [t.id, t]))
    return due.filter((live) => {
      const t = timers.get(live.sessionId)
      if (!t) return false
      if (t.lastActiveAt !== null) live.sharedActivity = Math.max(live.sharedActivity, t.lastActiveAt)
      if (t.expiresAt !== null) live.timeouts = { ...live.timeouts, expiresAt: t.expiresAt }
      return true
    })
  }

  /** The `session.expiring` event, written once per deadline whichever replicas warn of it. */
  private async recordWarning(live: Live, step: { readonly reason: TimeoutReason; readonly inS: number; readonly deadline: number }, now: number): Promise<void> {
    const { store, logger } = this.deps
    try {
      if (!(await store.markSessionWarned(live.sessionId, step.deadline))) return
      await store.appendEvent({
        type: 'session.expiring', at: now, pool: live.pool, user: live.user, sessionId: live.sessionId, data: { reason: step.reason, inS: step.inS },
      })
    } catch (err) {
      logger.error({ session: live.sessionId, err: errMessage(err) }, 'could not record session.expiring')
    }
  }

  /** An API call on the session: it is not idle (a no-op for one not live here). */
  touch(sessionId: string): void {
    this.live.get(sessionId)?.hub.touch()
  }

  /**
   * `POST /v1/sessions/{id}/keepalive`: the call itself is the activity that resets idleness;
   * with `timeoutS` the session ends by `max_lifetime` that many seconds from now, which may not
   * pass `maxSessionTimeoutS` after its creation (400 naming the field and what is left).
   */
  async keepalive(sessionId: string, timeoutS: number | undefined): Promise<SessionView> {
    const { store, clock } = this.deps
    const s = await this.get(sessionId)
    if (s.state === 'ended') throw new ApiError('session_ended', `session ${sessionId} ended (${s.endedReason})`)
    if (timeoutS !== undefined) {
      const now = clock.now()
      const latest = s.createdAt + this.deps.limits.maxSessionTimeoutS * 1000
      const expiresAt = now + timeoutS * 1000
      if (expiresAt > latest) {
        const left = Math.max(0, Math.floor((latest - now) / 1000))
        throw timeoutError([{ field: 'timeoutS', message: `must be at most ${left} (the gateway's maxSessionTimeoutS, ${this.deps.limits.maxSessionTimeoutS}, counts from the session's creation)` }])
      }
      if (!(await store.setSessionExpiry(sessionId, expiresAt))) throw new ApiError('session_ended', `session ${sessionId} ended`)
      const live = this.live.get(sessionId)
      if (live) live.timeouts = { ...live.timeouts, expiresAt }
    }
    return this.view(await this.get(sessionId))
  }

  /** When the session was last used (undefined: not live here). */
  lastActivityMs(sessionId: string): number | undefined {
    const live = this.live.get(sessionId)
    return live && this.activityOf(live)
  }

  get activeCount(): number {
    return this.live.size
  }

  /** Gateway shutdown: close viewers and channels; shells keep running for the next start. */
  detachAll(): void {
    this.stopped = true
    this.replica?.stop()
    for (const live of this.live.values()) {
      live.ending = true
      live.hub.goAway()
      live.hub.channel.close()
    }
    this.live.clear()
  }

  private track(s: Tracked, handle: SandboxHandle, hub: TerminalHub, applied: Promise<unknown>): void {
    const channel = hub.channel
    const { id: sessionId, pool } = s
    const activityFrom = hub.lastActivityMs
    const live: Live = {
      sessionId, pool, user: s.user, sandboxId: handle.id, handle, hub, applied, ending: false,
      timeouts: timeoutsOf(s, this.deps.pools.get(pool)?.spec), warnedFor: undefined,
      activityFrom, sharedActivity: s.createdAt, recordedActivity: activityFrom,
    }
    this.live.set(sessionId, live)
    channel.on('message', (m) => {
      if (m.type === 'exit') void this.end(sessionId, 'exited', m.code).catch((err) => this.logEndError(sessionId, err))
    })
    const onClose = (err: Error | undefined) => {
      if (live.ending) return
      const runtime = this.deps.pools.get(pool)
      if (this.deps.replicated && !(err instanceof ChannelProtocolError) && !this.stopped) {
        // Perhaps only this replica's connection was lost (the agent closes one that stalls):
        // the shell may well be alive. Viewers here reconnect; the session ends only if it is gone.
        this.live.delete(sessionId)
        this.deps.metrics.sessionsActive.dec({ pool })
        live.ending = true
        live.hub.goAway()
        void this.adopt(sessionId)
          .then((back) => (back ? undefined : this.end(sessionId, 'sandbox_lost')))
          .catch((e: unknown) => this.logEndError(sessionId, e))
        return
      }
      if (err instanceof ChannelProtocolError && runtime) {
        this.countProtocolError(runtime, handle.id, err.message)
        void this.end(sessionId, 'sandbox_lost').catch((e) => this.logEndError(sessionId, e))
        return
      }
      const driver = runtime?.driver
      // Drivers that cannot say why end the session at once, as before.
      if (!driver?.lostReason) {
        void this.end(sessionId, 'sandbox_lost').catch((err) => this.logEndError(sessionId, err))
        return
      }
      void lostReasonWithin(driver.lostReason(handle.id), LOST_REASON_TIMEOUT_MS)
        .then((reason) => this.end(sessionId, reason ?? 'sandbox_lost'))
        .catch((err) => this.logEndError(sessionId, err))
    }
    channel.on('close', onClose)
    // The channel may have closed before anyone listened (a bad frame right behind the hello).
    if (channel.isClosed) onClose(channel.closeError)
  }

  private logEndError(sessionId: string, err: unknown): void {
    this.deps.logger.error({ session: sessionId, err: errMessage(err) }, 'failed to end session')
  }
}

/** A claim attempt that got as far as sending the claim to the agent. */
interface ClaimAttempt {
  readonly newSession: NewSession
  /** The claim's records: the session (still `starting`) and its sandbox. */
  readonly claimed: Claimed
  readonly handle: SandboxHandle
  readonly hub: TerminalHub
  readonly applied: Promise<Ready>
  readonly claimSentAt: number
  readonly warm: boolean
  /** The first attach token, stored by the claim's transaction. */
  readonly attach: Attach
}

/** The sandbox failed the claim (and was destroyed): another sandbox may well succeed. */
class SandboxClaimFailed extends Error {
  override readonly name = 'SandboxClaimFailed'
  constructor(readonly apiError: ApiError) {
    super(apiError.message)
  }
}

/** A timeout asked beyond the gateway's maximum: 400, naming each field. */
function timeoutError(details: readonly ErrorDetail[]): ApiError {
  return new ApiError('validation_failed', `invalid body: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`, details)
}

/** A quota's refusal as the API's 429, naming the limit and its value. */
function quotaError(q: QuotaRefused): ApiError {
  return new ApiError(q.kind, q.message, [{ field: q.limit, message: q.message, limit: q.limit, value: q.value }], q.retryAfterS)
}

/** The driver's answer, or undefined once `ms` passed or it failed. */
async function lostReasonWithin<T>(answer: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), ms) })
  try {
    return await Promise.race([answer.catch(() => undefined), timeout])
  } finally {
    clearTimeout(timer)
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
