import type { Logger } from 'pino'
import type { Clock } from '../clock/clock.ts'
import type { EventRecord, Store } from '../store/types.ts'
import { ApiError } from './errors.ts'

/** How often the log is read for events this process was not told of (other replicas'). */
export const EVENT_POLL_MS = 250
/** Events one subscriber may have waiting; one more and it is cut off (it resumes with Last-Event-ID). */
export const SUBSCRIBER_QUEUE_MAX = 1000
/** Open event streams per key and in all: each holds a queue and a socket. */
export const MAX_STREAMS_PER_KEY = 16
export const MAX_STREAMS = 256
/** Events read from the store at once. */
const READ_BATCH = 200
/**
 * How long after a write the bus reads the log. The store tells the bus from inside the writing
 * call (a claim), whose own awaits (the workspace bind, the agent) come after its commit: a read
 * then would sit on the claim's path. A few ms later the claim has answered, and a burst's
 * events are read in one go (a burst larger than a reader's queue cuts that reader off; it
 * resumes from the store with Last-Event-ID and loses nothing).
 */
export const WAKE_DELAY_MS = 10

export type SubscriptionEnd = 'closed' | 'overflow' | 'shutdown'

export interface SubscribeOptions {
  /** Replay what came after this id first; undefined: from now on. */
  readonly afterId?: number
  /** Which events this subscriber gets (scope, types); the others pass it by. */
  readonly accept: (e: EventRecord) => boolean
  /** Who holds it (a key id, or `admin`): MAX_STREAMS_PER_KEY counts per owner. */
  readonly owner: string
  /** Called once when it ends for any reason but its own close (overflow, shutdown). */
  readonly onEnd?: (reason: SubscriptionEnd) => void
}

/**
 * One reader of the store's event log per gateway, fanning out to subscribers. It reads when
 * the store says this process appended events, and every EVENT_POLL_MS for events other
 * processes appended. A subscriber replays from the store until it has caught up with what the
 * bus has fanned out, then takes live events from a bounded queue: no gap and no duplicate
 * between the two, and a subscriber that falls behind is cut off instead of growing the
 * gateway's memory.
 */
export class EventBus {
  /** The newest id fanned out to live subscribers. */
  private lastId = 0
  private readonly subs = new Set<Subscription>()
  private readonly listeners = new Set<() => void>()
  /** Callers of nextRead(), told when the read that follows ends. */
  private readWaiters: (() => void)[] = []
  private pumping = false
  /**
   * Reads were skipped (nobody listened), so lastId may be behind the log. The next read moves
   * it to the log's end without fanning out what it skips: no subscriber was live meanwhile, and
   * one that subscribed since replays from the store (Subscription.replay).
   */
  private behind = false
  private wakeTimer: NodeJS.Timeout | undefined
  private again = false
  private stopped = true
  private unwatch: (() => void) | undefined
  private cancelPoll: (() => void) | undefined

  constructor(private readonly deps: {
    readonly store: Store
    readonly clock: Clock
    readonly logger?: Logger
    readonly pollMs?: number
    readonly queueMax?: number
    readonly maxStreams?: number
    readonly maxStreamsPerKey?: number
    /**
     * Whether a consumer other than the subscribers wants the log read (the webhook worker, while
     * webhooks exist). With neither, the bus reads nothing: a write costs no read of the log.
     */
    readonly demand?: () => boolean
  }) {}

  async start(): Promise<void> {
    this.lastId = await this.deps.store.lastEventId()
    this.stopped = false
    this.unwatch = this.deps.store.watchEvents(() => this.wakeAfterWrite())
    this.schedulePoll()
  }

  /** Ends every subscription (`shutdown`) and stops reading. */
  stop(): void {
    this.stopped = true
    this.unwatch?.()
    this.cancelPoll?.()
    clearTimeout(this.wakeTimer)
    this.wakeTimer = undefined
    for (const s of [...this.subs]) s.end('shutdown')
    this.flushReadWaiters()
  }

  /** Resolves once a read of the log that starts after this call has ended. */
  nextRead(): Promise<void> {
    if (this.stopped) return Promise.resolve()
    const p = new Promise<void>((resolve) => this.readWaiters.push(resolve))
    if (this.pumping) this.again = true
    else this.wake()
    return p
  }

  private flushReadWaiters(): void {
    const waiters = this.readWaiters
    this.readWaiters = []
    for (const w of waiters) w()
  }

  /** Called after each read that found new events (the webhook worker hands them out then). */
  onEvents(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  get lastFannedOut(): number {
    return this.lastId
  }

  get subscriberCount(): number {
    return this.subs.size
  }

  /** Whether lastFannedOut may lag the log (reads were skipped): a new subscriber replays to catch up. */
  get lagging(): boolean {
    return this.behind
  }

  private get demanded(): boolean {
    return this.subs.size > 0 || this.readWaiters.length > 0 || (this.deps.demand?.() ?? false)
  }

  /** A new subscriber; `quota_exceeded` when its owner, or the gateway, holds as many as it may. */
  subscribe(opts: SubscribeOptions): Subscription {
    const perKey = this.deps.maxStreamsPerKey ?? MAX_STREAMS_PER_KEY
    const total = this.deps.maxStreams ?? MAX_STREAMS
    if ([...this.subs].filter((s) => s.owner === opts.owner).length >= perKey) {
      throw new ApiError('quota_exceeded', `at most ${perKey} event streams per key: close one`, [{ field: 'events', message: 'too many streams', limit: 'eventStreamsPerKey', value: perKey }], 5)
    }
    if (this.subs.size >= total) {
      throw new ApiError('quota_exceeded', `the gateway serves at most ${total} event streams`, [{ field: 'events', message: 'too many streams', limit: 'eventStreams', value: total }], 5)
    }
    const sub = new Subscription(this, this.deps.store, opts, this.deps.queueMax ?? SUBSCRIBER_QUEUE_MAX)
    this.subs.add(sub)
    return sub
  }

  /** @internal */
  remove(sub: Subscription): void {
    this.subs.delete(sub)
  }

  /**
   * Reads the log soon (again, if a read is running: an event committed during it is not
   * missed). Soon, not now: the store calls this from inside the call that wrote (a claim), and
   * that caller's answer goes out before the read and the fan-out.
   */
  wake(): void {
    if (this.stopped) return
    if (!this.demanded) {
      this.behind = true
      return
    }
    if (this.pumping) {
      this.again = true
      return
    }
    this.pumping = true
    setImmediate(() => {
      void this.pump().finally(() => {
        this.pumping = false
      })
    })
  }

  /** A write's wake, WAKE_DELAY_MS later: one read for all the writes of that while. */
  private wakeAfterWrite(): void {
    if (this.stopped || this.wakeTimer) return
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined
      this.wake()
    }, WAKE_DELAY_MS)
  }

  private async pump(): Promise<void> {
    let found = false
    try {
      if (this.behind) {
        const end = await this.deps.store.lastEventId()
        if (this.stopped) return
        // with lastId, in the same tick: a subscriber never goes live against a stale lastId
        this.behind = false
        if (end > this.lastId) {
          this.lastId = end
          found = true
        }
      }
      do {
        this.again = false
        for (;;) {
          const page = await this.deps.store.listEvents(this.lastId, READ_BATCH)
          if (this.stopped) return
          // synchronous from here to the new lastId: a subscriber going live sees one or the other
          for (const e of page) for (const s of this.subs) s.offer(e)
          if (page.length > 0) {
            this.lastId = page[page.length - 1]!.id
            found = true
          }
          if (page.length < READ_BATCH) break
        }
      } while (this.again)
    } catch (err) {
      if (!this.stopped) this.deps.logger?.error({ err: String(err) }, 'reading the event log failed')
    }
    this.flushReadWaiters()
    if (found) for (const l of this.listeners) l()
  }

  private schedulePoll(): void {
    if (this.stopped) return
    this.cancelPoll = this.deps.clock.setTimer(this.deps.pollMs ?? EVENT_POLL_MS, () => {
      this.wake()
      this.schedulePoll()
    })
  }
}

/** One subscriber's events, in id order: `for await (const e of sub)`. Ends when closed, cut off or the bus stops. */
export class Subscription implements AsyncIterable<EventRecord> {
  readonly owner: string
  private cursor: number
  private live = false
  private queue: EventRecord[] = []
  private ended: SubscriptionEnd | undefined
  private waiter: (() => void) | undefined

  /** @internal */
  constructor(private readonly bus: EventBus, private readonly store: Store, private readonly opts: SubscribeOptions, private readonly queueMax: number) {
    this.owner = opts.owner
    // "From now" on a lagging bus: from the log's end, read when iteration starts (replay).
    this.cursor = opts.afterId ?? (bus.lagging ? Number.MAX_SAFE_INTEGER : bus.lastFannedOut)
    this.live = opts.afterId === undefined && !bus.lagging
  }

  /** Why it ended (undefined while it runs). */
  get endedBy(): SubscriptionEnd | undefined {
    return this.ended
  }

  get queued(): number {
    return this.queue.length
  }

  /** @internal A live event from the bus. */
  offer(e: EventRecord): void {
    if (!this.live || this.ended || e.id <= this.cursor || !this.opts.accept(e)) return
    if (this.queue.length >= this.queueMax) {
      this.end('overflow')
      return
    }
    this.queue.push(e)
    this.wakeReader()
  }

  close(): void {
    this.end('closed')
  }

  /** @internal */
  end(reason: SubscriptionEnd): void {
    if (this.ended) return
    this.ended = reason
    this.queue = []
    this.bus.remove(this)
    this.wakeReader()
    if (reason !== 'closed') this.opts.onEnd?.(reason)
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EventRecord> {
    try {
      if (!this.live) {
        // an id beyond the log's (another database, or made up) would wait for ids that may never come
        this.cursor = Math.min(this.cursor, await this.store.lastEventId())
        yield* this.replay()
      }
      for (;;) {
        const e = this.queue.shift()
        if (e) {
          this.cursor = e.id
          yield e
          continue
        }
        if (this.ended) return
        await new Promise<void>((resolve) => {
          this.waiter = resolve
        })
      }
    } finally {
      this.close()
    }
  }

  /** From the store, until caught up with the bus; then live (in the same tick as the check). */
  private async *replay(): AsyncGenerator<EventRecord> {
    while (!this.ended) {
      const known = this.bus.lastFannedOut
      if (this.bus.lagging) {
        // the bus skipped reads: `known` may be behind the log, and live from it would miss
        // what lies between; its next read moves it to the log's end first
        await this.bus.nextRead()
        continue
      }
      if (this.cursor === known) {
        this.live = true
        return
      }
      if (this.cursor > known) {
        // the bus has yet to read what this subscriber has: live now, its next read would queue
        // all of that at once; wait for it instead
        await this.bus.nextRead()
        continue
      }
      const page = await this.store.listEvents(this.cursor, READ_BATCH)
      for (const e of page) {
        if (this.ended) return
        this.cursor = e.id
        if (this.opts.accept(e)) yield e
      }
      // a short page read after `known` was taken holds everything up to it that is still kept
      if (page.length < READ_BATCH) this.cursor = Math.max(this.cursor, known)
    }
  }

  private wakeReader(): void {
    const w = this.waiter
    this.waiter = undefined
    w?.()
  }
}
