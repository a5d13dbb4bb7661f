import { Backoff } from '../policy/backoff.ts'
import { planCreates, TokenBucket } from '../policy/create-budget.ts'
import { claimHistoryFor, decide, type ClaimHistory, type PolicyPoolSpec } from '../policy/index.ts'
import { ClaimRate, windowSOf } from '../policy/observation.ts'
import { dueForRecycle, recycleAtMs } from '../policy/recycle.ts'
import { DEFAULT_COSTS, HOURS_PER_MONTH, INSTANCE_TYPES } from './costs.ts'
import { HeapQueue, type EventQueue } from './event-queue.ts'
import { durationSampler, stream, type DurationSampler } from './rng.ts'
import type { Scenario } from './scenario.ts'
import { SharedStarts } from './shared-starts.ts'
import { SimClock } from './sim-clock.ts'
import { Stats, type HostCounters, type SimResult } from './stats.ts'
import { arrivalProcess, type Trace } from './workload.ts'

// Event kinds (hot path: numbers, no closures).
const ARRIVAL = 0, CREATE_DONE = 1, SESSION_END = 2, HOST_READY = 3, HOST_NOTICE = 4, HOST_GONE = 5, TIMER = 6, WARM_POOL_BACK = 7, SHARED_DONE = 8
// Sandbox states.
const FREE = 0, STARTING = 1, READY = 2, CLAIMED = 3, MOVED = 4, DEAD = 5
// Host states.
const H_BOOTING = 1, H_RUNNING = 2, H_DRAINING = 3, H_GONE = 4

export interface SimOptions {
  readonly trace?: Trace
  /** The future-event list (the benchmark swaps in the naive baseline). */
  readonly queue?: () => EventQueue
  /** Keep every claim's time, path and wait in the result (`claims`), e.g. to compare blocks of a run. */
  readonly logClaims?: boolean
}

/** Runs one scenario to its end. Deterministic: same scenario and seed, same result (outside perf). */
export function simulate(sc: Scenario, options: SimOptions = {}): SimResult {
  return new Simulation(sc, options).run()
}

class Simulation {
  private readonly q: EventQueue
  private readonly clock: SimClock
  private readonly stats: Stats
  private readonly spec: PolicyPoolSpec
  private readonly windowS: number
  private readonly history: ClaimHistory
  private readonly nextArrival: (t: number) => number
  private readonly arrivals
  private readonly sessionLen: () => number
  private readonly sandboxStart: DurationSampler
  /** A cold claim's own time once a sandbox is handed to it (store write, agent connect, workspace bind). */
  private readonly coldClaim: () => number
  private readonly spotRng
  private readonly failRate: number
  private readonly failRng
  // Sandboxes (struct of arrays, ids recycled through a free list).
  private sbState = new Uint8Array(1024)
  private sbHost = new Int32Array(1024)
  /** When the claim a cold start was launched for arrived (-1: a warm refill), and its session's length. */
  private sbClaimAt = new Float64Array(1024)
  private sbDur = new Float64Array(1024)
  private sbStartAt = new Float64Array(1024)
  private sbMovedTo = new Int32Array(1024)
  private sbFree: number[] = []
  private sbNext = 0
  /** Ready sandboxes in the order they became ready; [readyHead, length) may still hold some that are not. */
  private readyQueue: number[] = []
  private readyHead = 0
  /**
   * Claims that found nothing ready, oldest first, as the gateway's ClaimWaiters: each create
   * that finishes goes to the oldest of them, whichever claim it was started for.
   */
  private waitAt: number[] = []
  private waitDur: number[] = []
  private waitHead = 0
  private readonly handOff: boolean
  ready = 0
  warmStarting = 0
  coldStarting = 0
  claimed = 0
  // What the controller observes and how it paces creates: the same code as the controller's.
  private readonly rate = new ClaimRate()
  private readonly backoff: Backoff
  private readonly budget: TokenBucket | undefined
  /** Earliest time (ms) a ready sandbox may be due for recycling; may be early, never late. */
  private nextRecycleAt = Infinity
  /** When the pending wake-up timer fires (s): a pass the live controller would schedule. */
  private wakeAt = Infinity
  // Hosts (absent: unlimited capacity).
  private readonly hosts: HostModel | undefined
  /** Creates sharing the machine's processors (sandbox.createCores), and the live SHARED_DONE event's number. */
  private readonly shared: SharedStarts | undefined
  private sharedGen = 0

  constructor(private readonly sc: Scenario, options: SimOptions) {
    this.q = (options.queue ?? (() => new HeapQueue()))()
    const startMs = Date.parse(sc.startAt)
    this.clock = new SimClock(this.q, TIMER, startMs)
    this.stats = new Stats(sc, options.logClaims ?? false)
    this.spec = { minSize: sc.pool.minSize, maxSize: sc.pool.maxSize, policy: sc.policy }
    this.windowS = windowSOf(sc.policy)
    this.history = claimHistoryFor(sc.policy)
    this.arrivals = arrivalProcess(sc.arrivals, startMs, stream(sc.seed, 1), options.trace)
    this.nextArrival = this.arrivals.next
    this.sessionLen = sc.sessionS.kind === 'trace' ? () => 0 : durationSampler(sc.sessionS, stream(sc.seed, 2))
    this.sandboxStart = durationSampler(sc.sandbox.startS, stream(sc.seed, 3))
    const claimS = sc.sandbox.claimS
    this.coldClaim = sc.sandbox.coldClaimS ? durationSampler(sc.sandbox.coldClaimS, stream(sc.seed, 8)) : () => claimS
    this.spotRng = stream(sc.seed, 4)
    if (sc.hosts || sc.fargate) this.hosts = new HostModel(sc, this.q, this.spotRng, stream(sc.seed, 5))
    else if (sc.sandbox.createCores !== undefined) this.shared = new SharedStarts(sc.sandbox.createCores)
    this.backoff = new Backoff({ random: stream(sc.seed, 6) })
    this.failRate = sc.pool.createFailureRate
    this.handOff = sc.pool.coldClaims === 'handOff'
    this.failRng = stream(sc.seed, 7)
    this.budget = sc.pool.maxCreatesPerMin === undefined ? undefined : new TokenBucket(sc.pool.maxCreatesPerMin, startMs)
  }

  run(): SimResult {
    const wall0 = performance.now()
    const { q, clock, stats, sc } = this
    const end = sc.durationS
    q.push(this.nextArrival(0), ARRIVAL, 0)
    const resyncMs = sc.pool.resyncS * 1000
    const resync = () => { this.reconcile(); clock.setTimer(resyncMs, resync) }
    clock.setTimer(0, resync)
    const sampleMs = (end / (sc.samples - 1)) * 1000
    const sample = () => { this.sample(); clock.setTimer(sampleMs, sample) }
    clock.setTimer(0, sample)
    if (this.hosts) this.hosts.start(this, clock)
    let events = 0
    while (q.pop()) {
      const t = q.t
      if (t > end) break
      stats.advance(t, this)
      clock.t = t
      events++
      switch (q.kind) {
        case ARRIVAL: this.arrival(t); break
        case CREATE_DONE: this.createDone(q.arg, t); break
        case SESSION_END: this.sessionEnd(q.arg); break
        case TIMER: clock.fire(q.arg); break
        case SHARED_DONE: this.sharedDone(q.arg, t); break
        default: this.hosts!.event(q.kind, q.arg, t, this)
      }
    }
    stats.advance(end, this)
    this.hosts?.close(end)
    return stats.result(events, (performance.now() - wall0) / 1000, this.hosts ? { costs: this.hosts.costs(sc), counters: this.hosts.counters, hostSlotS: this.hosts.hostSeconds() * this.hosts.slots } : undefined)
  }

  // ---- sandboxes --------------------------------------------------------------------------

  private newSandbox(claimAt: number, dur: number): number {
    let id = this.sbFree.pop()
    if (id === undefined) {
      id = this.sbNext++
      if (id === this.sbState.length) this.growSandboxes()
    }
    this.sbClaimAt[id] = claimAt
    this.sbDur[id] = dur
    this.sbHost[id] = -1
    this.sbState[id] = STARTING
    return id
  }

  private growSandboxes(): void {
    const n = this.sbState.length * 2
    const f = (a: Float64Array) => { const b = new Float64Array(n); b.set(a); return b }
    const i = (a: Int32Array) => { const b = new Int32Array(n); b.set(a); return b }
    const s = new Uint8Array(n); s.set(this.sbState); this.sbState = s
    this.sbHost = i(this.sbHost); this.sbMovedTo = i(this.sbMovedTo)
    this.sbClaimAt = f(this.sbClaimAt); this.sbDur = f(this.sbDur); this.sbStartAt = f(this.sbStartAt)
  }

  private freeSandbox(id: number): void {
    this.sbState[id] = FREE
    this.sbFree.push(id)
  }

  /** Starts a create: now on a slot, or queued until a host has room. */
  startCreate(id: number, t: number): void {
    this.sbStartAt[id] = t
    if (this.shared) {
      this.shared.add(id, this.sandboxStart(t), t)
      this.scheduleShared()
      return
    }
    if (!this.hosts) {
      this.q.push(t + this.sandboxStart(t), CREATE_DONE, id)
      return
    }
    this.hosts.place(id, t, this)
  }

  /** (Re)schedules the next end of a shared create; an event of an older number is stale. */
  private scheduleShared(): void {
    const at = this.shared!.nextEndAt()
    this.sharedGen = (this.sharedGen + 1) | 0
    if (at < Infinity) this.q.push(at, SHARED_DONE, this.sharedGen)
  }

  private sharedDone(gen: number, t: number): void {
    if (gen !== this.sharedGen) return
    const id = this.shared!.pop(t)
    this.scheduleShared()
    this.createDone(id, t)
  }

  /** Called by the host model once a sandbox has a slot on a running host. */
  onSlot(id: number, host: number, t: number): void {
    this.sbHost[id] = host
    this.q.push(t + this.sandboxStart(t), CREATE_DONE, id)
  }

  isStarting(id: number): boolean {
    return this.sbState[id] === STARTING
  }

  private createDone(id: number, t: number): void {
    if (this.sbState[id] === DEAD) { this.freeSandbox(id); return }
    if (this.failRate > 0 && this.failRng() < this.failRate) { this.createFailed(id, t); return }
    this.stats.createDone(t, true)
    this.backoff.success()
    this.rate.recordStart((t - this.sbStartAt[id]!) * 1000)
    const own = this.sbClaimAt[id]! >= 0
    if (own) this.coldStarting--
    else this.warmStarting--
    if (this.handOff ? this.waiting() > 0 : own) {
      // handOff: the oldest waiting claim takes it, whoever it was started for (the gateway's ClaimWaiters).
      let claimAt = this.sbClaimAt[id]!, dur = this.sbDur[id]!
      if (this.handOff) {
        claimAt = this.waitAt[this.waitHead]!
        dur = this.waitDur[this.waitHead++]!
        this.compactWaiters()
      }
      this.claimed++
      this.sbState[id] = CLAIMED
      const claimS = this.coldClaim()
      this.stats.coldWait(claimAt, t - claimAt + claimS)
      this.q.push(t + claimS + dur, SESSION_END, id)
    } else {
      this.ready++
      this.sbState[id] = READY
      this.readyQueue.push(id)
      this.nextRecycleAt = Math.min(this.nextRecycleAt, recycleAtMs(this.createdAtMs(id), this.sc.pool.maxWarmAgeS))
    }
    this.reconcile()
  }

  /**
   * A create failed after its start time: the sandbox goes, creates back off, and the oldest
   * waiting claim fails unless another create in flight can still serve it (the gateway answers
   * it with the create's error, it does not retry).
   */
  private createFailed(id: number, t: number): void {
    this.stats.createDone(t, false)
    this.backoff.failure(this.clock.now())
    const own = this.sbClaimAt[id]! >= 0
    if (own) this.coldStarting--
    else this.warmStarting--
    if (!this.handOff) {
      if (own) this.stats.claimFailed(this.sbClaimAt[id]!)
    } else if (this.waiting() > this.warmStarting + this.coldStarting) {
      this.stats.claimFailed(this.waitAt[this.waitHead]!)
      this.waitHead++
      this.compactWaiters()
    }
    this.retireSandbox(id, t)
    this.reconcile()
  }

  private waiting(): number {
    return this.waitAt.length - this.waitHead
  }

  private compactWaiters(): void {
    if (this.waitHead < 1024 || this.waitHead * 2 < this.waitAt.length) return
    this.waitAt = this.waitAt.slice(this.waitHead)
    this.waitDur = this.waitDur.slice(this.waitHead)
    this.waitHead = 0
  }

  /** Frees a sandbox that holds no session, and its host slot. */
  private retireSandbox(id: number, t: number): void {
    const host = this.sbHost[id]!
    this.freeSandbox(id)
    if (host >= 0) this.hosts!.release(host, t, this)
  }

  /** Wall-clock ms of the create's start: what the store records as the sandbox's createdAt. */
  private createdAtMs(id: number): number {
    return this.clock.startMs + this.sbStartAt[id]! * 1000
  }

  /** The oldest ready sandbox, for a claim (the store claims the oldest warm one); -1 if none. */
  private takeOldestReady(): number {
    const q = this.readyQueue
    while (this.readyHead < q.length) {
      const id = q[this.readyHead++]!
      if (this.sbState[id] === READY) { this.ready--; this.compactReady(); return id }
    }
    return -1
  }

  /** The newest ready sandbox, for retiring surplus (as the controller does); -1 if none. */
  private takeNewestReady(): number {
    const q = this.readyQueue
    while (q.length > this.readyHead) {
      const id = q.pop()!
      if (this.sbState[id] === READY) { this.ready--; return id }
    }
    return -1
  }

  private compactReady(): void {
    if (this.readyHead < 1024 || this.readyHead * 2 < this.readyQueue.length) return
    this.readyQueue = this.readyQueue.slice(this.readyHead)
    this.readyHead = 0
  }

  private arrival(t: number): void {
    const dur = this.sc.sessionS.kind === 'trace' ? (this.arrivals.durationS ?? 0) : this.sessionLen()
    this.rate.recordClaim(this.clock.now())
    this.history.recordClaim(this.clock.now())
    const id = this.takeOldestReady()
    if (id >= 0) {
      this.sbState[id] = CLAIMED
      this.claimed++
      this.stats.warmHit(t)
      this.q.push(t + this.sc.sandbox.claimS + dur, SESSION_END, id)
    } else this.coldArrival(t, dur)
    this.reconcile()
    const next = this.nextArrival(t)
    if (next <= this.sc.durationS) this.q.push(next, ARRIVAL, 0)
  }

  /**
   * Nothing ready: as the gateway's claim, refused when maxClaimWaiters claims already wait
   * (handOff); else a cold start of its own within maxSize, else (with handOff) a wait for a
   * start already on its way that no other claim waits for, else refused.
   */
  private coldArrival(t: number, dur: number): void {
    this.stats.coldStart(t)
    const inFlight = this.warmStarting + this.coldStarting
    const coldStart = this.ready + this.claimed + inFlight < this.sc.pool.maxSize
    if (this.handOff) {
      const waiting = this.waiting()
      if (waiting >= this.sc.pool.maxClaimWaiters || (!coldStart && inFlight <= waiting)) { this.stats.claimFailed(t); return }
      this.waitAt.push(t)
      this.waitDur.push(dur)
    } else if (!coldStart) { this.stats.claimFailed(t); return }
    if (!coldStart) return
    const id = this.newSandbox(t, dur)
    this.coldStarting++
    this.startCreate(id, t)
  }

  private sessionEnd(id: number): void {
    const state = this.sbState[id]
    if (state === MOVED) {
      const to = this.sbMovedTo[id]!
      this.freeSandbox(id)
      this.sessionEnd(to)
      return
    }
    if (state === DEAD) { this.freeSandbox(id); return }
    this.claimed--
    const host = this.sbHost[id]!
    this.freeSandbox(id)
    if (host >= 0) this.hosts!.release(host, this.clock.t, this)
  }

  // ---- the controller's pass -----------------------------------------------------------

  /**
   * One controller pass, as pool/controller.ts does it: observe -> decide (the shared policy)
   * -> retire sandboxes due for recycling, then surplus -> create within the concurrency cap,
   * the create budget and the back-off -> wake up when one of those frees a create.
   */
  reconcile(): void {
    const t = this.clock.t
    const now = this.clock.now()
    const decision = decide(this.spec, {
      ready: this.ready,
      starting: this.warmStarting,
      claimed: this.claimed + this.coldStarting,
      claimRatePerS: this.rate.ratePerS(now, this.windowS),
      meanStartS: this.rate.meanStartS(),
      claimHistory: this.history,
    }, now)
    const target = decision.target
    this.stats.target(target)
    const pool = this.sc.pool
    let wakeMs = pool.maxWarmAgeS > 0 ? this.recycle(now, t) : Infinity
    let excess = this.ready + this.warmStarting - target
    while (excess > 0) {
      const id = this.takeNewestReady()
      if (id < 0) break
      this.retireSandbox(id, t)
      excess--
    }
    const plan = planCreates(now, -excess, pool.maxConcurrentCreates - this.warmStarting - this.coldStarting, this.backoff, this.budget)
    for (let k = 0; k < plan.count; k++) {
      const id = this.newSandbox(-1, 0)
      this.warmStarting++
      this.startCreate(id, t)
    }
    if (plan.wakeInMs !== undefined) wakeMs = Math.min(wakeMs, plan.wakeInMs)
    if (wakeMs < Infinity) this.wakeIn(wakeMs)
  }

  /** Retires the ready sandboxes due for recycling; returns ms until the next may be due. */
  private recycle(now: number, t: number): number {
    if (now < this.nextRecycleAt) return this.nextRecycleAt - now
    const maxAgeS = this.sc.pool.maxWarmAgeS
    let next = Infinity
    const kept: number[] = []
    for (let k = this.readyHead; k < this.readyQueue.length; k++) {
      const id = this.readyQueue[k]!
      if (this.sbState[id] !== READY) continue
      const created = this.createdAtMs(id)
      if (dueForRecycle(created, now, maxAgeS)) {
        this.ready--
        this.stats.recycled(t)
        this.retireSandbox(id, t)
      } else {
        kept.push(id)
        next = Math.min(next, recycleAtMs(created, maxAgeS))
      }
    }
    this.readyQueue = kept
    this.readyHead = 0
    this.nextRecycleAt = next
    return next - now
  }

  /** Schedules a pass in `ms` unless one is due sooner (at least 1 ms on: the clock moves). */
  private wakeIn(ms: number): void {
    const delayMs = Math.max(1, ms)
    const at = this.clock.t + delayMs / 1000
    if (at >= this.wakeAt) return
    this.wakeAt = at
    this.clock.setTimer(delayMs, this.wake)
  }

  private readonly wake = (): void => {
    if (this.clock.t >= this.wakeAt) this.wakeAt = Infinity
    this.reconcile()
  }

  private sample(): void {
    this.stats.sample(this.clock.t, this, this.hosts?.runningHosts ?? 0)
  }

  // ---- losses (spot interruptions, AZ outage) ----------------------------------------------

  /**
   * A host is going away: its ready sandboxes are dropped, its starting ones aborted (a claim
   * waiting on one gets a new create elsewhere), its sessions move to a ready sandbox on
   * another host if there is one, else they are lost.
   */
  loseHost(host: number, t: number): void {
    this.readyQueue = this.readyQueue.slice(this.readyHead).filter((id) => !(this.sbHost[id] === host && this.sbState[id] === READY))
    this.readyHead = 0
    const stranded: number[] = []
    for (let id = 0; id < this.sbNext; id++) {
      if (this.sbHost[id] !== host) continue
      const s = this.sbState[id]
      if (s === READY) { this.ready--; this.freeSandbox(id) }
      else if (s === STARTING) {
        this.sbState[id] = DEAD
        if (this.sbClaimAt[id]! >= 0) stranded.push(id)
        else this.warmStarting--
      } else if (s === CLAIMED) stranded.push(id)
      this.sbHost[id] = -2
    }
    for (const id of stranded) {
      if (this.sbState[id] === DEAD) { // a cold start aborted: its claim still waits, start another
        const again = this.newSandbox(this.sbClaimAt[id]!, this.sbDur[id]!)
        this.startCreate(again, t)
        continue
      }
      const to = this.takeOldestReady()
      if (to >= 0) {
        this.sbState[to] = CLAIMED
        this.sbState[id] = MOVED
        this.sbMovedTo[id] = to
        this.stats.moved++
      } else {
        this.sbState[id] = DEAD
        this.claimed--
        this.stats.lost++
      }
    }
    this.reconcile()
  }
}

/**
 * Hosts with N sandbox slots, scale-out tiers (running spare, EC2 warm pool stopped or
 * hibernated, cold launch with or without the image pull), ECS target capacity %, Spot
 * interruptions with notice, and an AZ outage. Fargate is a host with one slot per task,
 * started per sandbox and billed per vCPU- and GB-hour.
 */
class HostModel {
  readonly slots: number
  private readonly fargate: boolean
  private hState = new Uint8Array(256)
  private hUsed = new Int32Array(256)
  private hAz = new Int32Array(256)
  private hSpot = new Uint8Array(256)
  private hSince = new Float64Array(256)
  private hEmptySince = new Float64Array(256)
  private n = 0
  private withRoom: number[] = []
  private pending: number[] = []
  private pendingHead = 0
  private bootingSlots = 0
  runningHosts = 0
  private usedSlots = 0
  private warmPool = 0
  private readonly azDown: boolean[]
  private launchSeq = 0
  private onDemandHostS = 0
  private spotHostS = 0
  private warmPoolHostS = 0
  private lastWarmPoolT = 0
  private clock!: SimClock
  readonly counters: HostCounters = { launches: { spare: 0, hibernated: 0, stopped: 0, cold: 0 }, interruptions: 0, azLost: 0 }
  private readonly boot: () => number
  private readonly resume: () => number

  constructor(private readonly sc: Scenario, private readonly q: EventQueue, private readonly spotRng: () => number, rng: () => number) {
    const h = sc.hosts
    this.fargate = !h
    this.slots = h ? h.slots : 1
    this.azDown = Array.from({ length: h?.azs ?? sc.fargate!.azs }, () => false)
    if (h) {
      const pull = h.image.mode === 'golden' ? 0 : h.image.pullS
      const bootS = durationSampler(h.bootS, rng)
      this.boot = () => bootS() + pull
      const wp = h.warmPool
      const resumeS = wp ? durationSampler(wp.state === 'stopped' ? wp.stoppedStartS : wp.hibernatedStartS, rng) : () => 0
      const wpPull = h.image.mode === 'pull' ? h.image.pullS : 0
      this.resume = () => resumeS() + wpPull
      this.warmPool = wp?.size ?? 0
    } else {
      this.boot = durationSampler(sc.fargate!.startS, rng)
      this.resume = this.boot
    }
  }

  start(sim: Simulation, clock: SimClock): void {
    this.clock = clock
    const h = this.sc.hosts
    if (h) {
      for (let i = 0; i < h.minRunning; i++) this.bringUp(0, sim, true)
      const tick = () => { this.scale(sim); clock.setTimer(this.sc.pool.resyncS * 1000, tick) }
      clock.setTimer(0, tick)
    }
    const out = this.sc.azOutage
    if (out) {
      clock.setTimer(out.atS * 1000, () => this.azOutage(out.az, true, sim))
      clock.setTimer((out.atS + out.durationS) * 1000, () => this.azOutage(out.az, false, sim))
    }
  }

  event(kind: number, h: number, t: number, sim: Simulation): void {
    if (kind === HOST_READY) this.hostReady(h, t, sim)
    else if (kind === HOST_NOTICE) this.notice(h, t, sim)
    else if (kind === HOST_GONE) this.gone(h, t)
    else if (kind === WARM_POOL_BACK) { this.accrueWarmPool(t); this.warmPool++ }
  }

  place(id: number, t: number, sim: Simulation): void {
    const h = this.hostWithRoom()
    if (h >= 0) { this.take(h, t); sim.onSlot(id, h, t); return }
    this.pending.push(id)
    if (this.pending.length - this.pendingHead > this.bootingSlots) this.bringUp(t, sim, false)
  }

  release(h: number, t: number, sim: Simulation): void {
    this.hUsed[h]!--
    this.usedSlots--
    if (this.hState[h] !== H_RUNNING) return
    const id = this.nextPending(sim)
    if (id >= 0) { this.take(h, t); sim.onSlot(id, h, t); return }
    if (this.hUsed[h] === 0) {
      this.hEmptySince[h] = t
      if (this.fargate) { this.terminate(h, t); return }
    }
    if (this.hUsed[h] === this.slots - 1) this.withRoom.push(h)
  }

  private nextPending(sim: Simulation): number {
    while (this.pendingHead < this.pending.length) {
      const id = this.pending[this.pendingHead++]!
      if (sim.isStarting(id)) return id
    }
    if (this.pendingHead > 1024) { this.pending = this.pending.slice(this.pendingHead); this.pendingHead = 0 }
    return -1
  }

  private hostWithRoom(): number {
    const w = this.withRoom
    while (w.length > 0) {
      const h = w[w.length - 1]!
      if (this.hState[h] === H_RUNNING && this.hUsed[h]! < this.slots) return h
      w.pop()
    }
    return -1
  }

  private take(h: number, _t: number): void {
    this.hUsed[h]!++
    this.usedSlots++
  }

  /** Launches one host from the fastest tier available. */
  private bringUp(t: number, sim: Simulation, initial: boolean): void {
    const h = this.sc.hosts
    if (h && this.runningHosts >= h.maxHosts) return
    let az = -1
    for (let k = 0; k < this.azDown.length; k++) {
      const cand = (this.launchSeq + k) % this.azDown.length
      if (!this.azDown[cand]) { az = cand; break }
    }
    if (az < 0) return
    this.launchSeq = az + 1
    const id = this.n++
    if (id === this.hState.length) this.grow()
    let startS: number
    if (initial) { startS = 0; this.counters.launches.spare++ }
    else if (this.warmPool > 0) {
      this.accrueWarmPool(t)
      this.warmPool--
      startS = this.resume()
      if (h!.warmPool!.state === 'hibernated') this.counters.launches.hibernated++
      else this.counters.launches.stopped++
      // The Auto Scaling group initialises a replacement into the warm pool.
      this.q.push(t + this.boot(), WARM_POOL_BACK, 0)
    } else { startS = this.boot(); this.counters.launches.cold++ }
    const spot = this.fargate ? (this.sc.fargate!.spot ? 1 : 0) : (this.spotRng() < h!.spotFraction ? 1 : 0)
    this.hState[id] = H_BOOTING
    this.hUsed[id] = 0
    this.hAz[id] = az
    this.hSpot[id] = spot
    this.hSince[id] = t
    this.runningHosts++
    this.bootingSlots += this.slots
    const rate = this.fargate ? this.sc.fargate!.interruptionsPerHour : h!.interruptionsPerHour
    if (spot && rate > 0) this.q.push(t - (Math.log(1 - this.spotRng()) / rate) * 3600, HOST_NOTICE, id)
    this.q.push(t + startS, HOST_READY, id)
  }

  private hostReady(h: number, t: number, sim: Simulation): void {
    if (this.hState[h] !== H_BOOTING) return
    this.hState[h] = H_RUNNING
    this.bootingSlots -= this.slots
    this.hEmptySince[h] = t
    let id: number
    while (this.hUsed[h]! < this.slots && (id = this.nextPending(sim)) >= 0) { this.take(h, t); sim.onSlot(id, h, t) }
    if (this.hUsed[h]! < this.slots) this.withRoom.push(h)
    if (this.fargate && this.hUsed[h] === 0) this.terminate(h, t)
  }

  /** Capacity-provider style: keep used slots at targetCapacityPct of running slots; scale in idle hosts. */
  private scale(sim: Simulation): void {
    const h = this.sc.hosts!
    const t = this.clock.t
    const desired = Math.max(h.minRunning, Math.ceil(this.usedSlots / (this.slots * h.targetCapacityPct / 100)))
    for (let k = this.runningHosts; k < desired; k++) this.bringUp(t, sim, false)
    let surplus = this.runningHosts - desired
    for (let i = 0; i < this.n && surplus > 0; i++) {
      if (this.hState[i] === H_RUNNING && this.hUsed[i] === 0 && t - this.hEmptySince[i]! >= h.scaleInAfterS) {
        this.terminate(i, t)
        if (h.warmPool && this.warmPool < h.warmPool.size) { this.accrueWarmPool(t); this.warmPool++ }
        surplus--
      }
    }
  }

  private notice(h: number, t: number, sim: Simulation): void {
    const s = this.hState[h]
    if (s !== H_RUNNING && s !== H_BOOTING) return
    this.counters.interruptions++
    this.drain(h, t, sim)
    const notice = this.fargate ? this.sc.fargate!.noticeS : this.sc.hosts!.noticeS
    this.q.push(t + notice, HOST_GONE, h)
    sim.loseHost(h, t)
  }

  private drain(h: number, _t: number, _sim: Simulation): void {
    if (this.hState[h] === H_BOOTING) this.bootingSlots -= this.slots
    this.hState[h] = H_DRAINING
    this.usedSlots -= this.hUsed[h]!
    this.hUsed[h] = 0
  }

  private gone(h: number, t: number): void {
    if (this.hState[h] !== H_DRAINING) return
    this.terminate(h, t)
  }

  private terminate(h: number, t: number): void {
    const d = t - this.hSince[h]!
    if (this.hSpot[h]) this.spotHostS += d
    else this.onDemandHostS += d
    if (this.hState[h] === H_BOOTING) this.bootingSlots -= this.slots
    this.hState[h] = H_GONE
    this.runningHosts--
  }

  private azOutage(az: number, down: boolean, sim: Simulation): void {
    this.azDown[az] = down
    if (!down) return
    const t = this.clock.t
    for (let i = 0; i < this.n; i++) {
      const s = this.hState[i]
      if (this.hAz[i] !== az || (s !== H_RUNNING && s !== H_BOOTING)) continue
      this.counters.azLost++
      this.drain(i, t, sim)
      this.terminate(i, t)
      sim.loseHost(i, t)
    }
  }

  private accrueWarmPool(t: number): void {
    this.warmPoolHostS += this.warmPool * (t - this.lastWarmPoolT)
    this.lastWarmPoolT = t
  }

  close(end: number): void {
    for (let i = 0; i < this.n; i++) {
      const s = this.hState[i]
      if (s === H_RUNNING || s === H_BOOTING || s === H_DRAINING) this.terminate(i, end)
    }
    this.accrueWarmPool(end)
  }

  /** Dollars over the run, by kind. */
  costs(sc: Scenario): Record<string, number> {
    const c = { ...DEFAULT_COSTS, ...sc.costs }
    if (this.fargate) {
      const f = sc.fargate!
      const perHour = f.vcpu * c.fargateUsdPerVcpuHour + f.memoryGb * c.fargateUsdPerGbHour
      return {
        fargate: (this.onDemandHostS / 3600) * perHour,
        fargateSpot: (this.spotHostS / 3600) * perHour * (1 - c.fargateSpotDiscount),
      }
    }
    const h = sc.hosts!
    const type = INSTANCE_TYPES[h.instanceType]
    const hourly = sc.costs.usdPerHostHour ?? type.usdPerHour
    const diskGb = h.ebsGb + (h.warmPool?.state === 'hibernated' ? type.memoryGb : 0)
    return {
      onDemandHosts: (this.onDemandHostS / 3600) * hourly,
      spotHosts: (this.spotHostS / 3600) * hourly * (1 - c.spotDiscount),
      warmPoolEbs: (this.warmPoolHostS / 3600) * diskGb * (c.ebsUsdPerGbMonth / HOURS_PER_MONTH),
    }
  }

  hostSeconds(): number {
    return this.onDemandHostS + this.spotHostS
  }

  private grow(): void {
    const n = this.hState.length * 2
    const u8 = (a: Uint8Array) => { const b = new Uint8Array(n); b.set(a); return b }
    const i32 = (a: Int32Array) => { const b = new Int32Array(n); b.set(a); return b }
    const f64 = (a: Float64Array) => { const b = new Float64Array(n); b.set(a); return b }
    this.hState = u8(this.hState); this.hSpot = u8(this.hSpot)
    this.hUsed = i32(this.hUsed); this.hAz = i32(this.hAz)
    this.hSince = f64(this.hSince); this.hEmptySince = f64(this.hEmptySince)
  }
}
