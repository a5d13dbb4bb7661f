import type { Logger } from 'pino'
import type { Clock } from '../../clock/clock.ts'
import type { DeliveryAttempt, DueDelivery, Store } from '../../store/types.ts'
import { eventView } from '../event-view.ts'
import { WEBHOOK_TIMEOUT_MS, postWebhook, type WebhookResult } from './sender.ts'
import type { Lookup } from './target.ts'

/** Attempts in flight at once, over all webhooks. */
export const DELIVERY_CONCURRENCY = 8
/** The wait after the first failure; it doubles up to the cap. */
export const RETRY_FIRST_MS = 10_000
export const RETRY_MAX_MS = 3_600_000
/** Deliveries are retried until this long after their event, then abandoned. */
export const GIVE_UP_AFTER_MS = 24 * 3_600_000
/** How often due retries are looked for. */
export const DELIVERY_TICK_MS = 1000
/** An attempt's lease: a worker that died mid-attempt leaves the delivery to be taken after it. */
const LEASE_MS = WEBHOOK_TIMEOUT_MS + 20_000
const ENQUEUE_BATCH = 500

/** The wait before the next attempt after `failures` failed ones: 10 s doubling to 1 h, times 0.8 to 1.2. */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const base = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(30, Math.max(0, failures - 1)))
  return Math.round(base * (0.8 + 0.4 * random()))
}

/** What the next state of a delivery is after an attempt at `at`. */
export function afterAttempt(d: Pick<DueDelivery, 'attempts' | 'eventAt'>, r: WebhookResult, at: number, random?: () => number): DeliveryAttempt {
  if (r.error === null) return { at, status: r.status, error: null, state: 'delivered', nextAttemptAt: at }
  const giveUpAt = d.eventAt + GIVE_UP_AFTER_MS
  if (at >= giveUpAt) return { at, status: r.status, error: r.error, state: 'abandoned', nextAttemptAt: at }
  // the last retry falls on the give-up time itself
  return { at, status: r.status, error: r.error, state: 'pending', nextAttemptAt: Math.min(giveUpAt, at + retryDelayMs(d.attempts + 1, random)) }
}

export interface WebhookWorkerDeps {
  readonly store: Store
  readonly clock: Clock
  /** Opens a webhook's sealed secret (sealed with the webhook's id as its context). */
  readonly openSecret: (sealed: string, webhookId: string) => string
  readonly lookup: Lookup
  readonly allowPrivate: boolean
  readonly logger: Logger
}

/**
 * Delivers events to webhooks. Each pass hands new events of the log to the webhooks (a delivery
 * row each, in the store), then attempts what is due, at most DELIVERY_CONCURRENCY at once, and
 * records every outcome in the store: a restart carries on with the same attempt counts and
 * times. Runs on the injected clock: every DELIVERY_TICK_MS, and at once when the event bus
 * read new events.
 */
export class WebhookWorker {
  private readonly inFlight = new Set<Promise<void>>()
  private cancelTimer: (() => void) | undefined
  private running = false
  private again = false
  private stopped = true
  /** New events may wait to be handed to webhooks (set at start and by the event bus). */
  private eventsWaiting = true
  /** Whether a webhook existed at the last pass (undefined before the first). */
  private webhooksSeen: boolean | undefined

  constructor(private readonly deps: WebhookWorkerDeps) {}

  start(): void {
    this.stopped = false
    this.schedule()
    this.nudge()
  }

  /** Starts nothing new and waits for the attempts in flight (each ends within its timeout). */
  async stop(): Promise<void> {
    this.stopped = true
    this.cancelTimer?.()
    while (this.running || this.inFlight.size > 0) {
      await Promise.allSettled([...this.inFlight, new Promise((r) => setTimeout(r, 10))])
    }
  }

  /**
   * Whether this worker wants to hear of new events at once: only while webhooks exist (as of
   * its last pass, which runs every DELIVERY_TICK_MS and after a webhook route changed them).
   * Without webhooks the event bus need not read the log for it.
   */
  get wantsEvents(): boolean {
    return this.webhooksSeen !== false
  }

  /** The event bus read new events: hand them to the webhooks now. */
  eventsAppended(): void {
    this.eventsWaiting = true
    this.nudge()
  }

  /** Runs a pass soon (new events, or an attempt ended and more may be due). */
  nudge(): void {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = true
    void this.pass().finally(() => {
      this.running = false
      if (this.again) {
        this.again = false
        this.nudge()
      }
    })
  }

  /** A tick every DELIVERY_TICK_MS whatever the passes do: one that finds a pass running asks for another after it. */
  private schedule(): void {
    if (this.stopped) return
    this.cancelTimer = this.deps.clock.setTimer(DELIVERY_TICK_MS, () => {
      this.schedule()
      this.nudge()
    })
  }

  private async pass(): Promise<void> {
    const { store, clock, logger } = this.deps
    try {
      // No webhook: nothing to hand out and nothing due (deliveries go with their webhook). The
      // events stay waiting: a webhook made later gets those after its own creation.
      this.webhooksSeen = await store.hasWebhooks()
      if (!this.webhooksSeen) return
      // a tick with no new events only looks for due retries: no write transaction for nothing
      if (this.eventsWaiting) {
        this.eventsWaiting = false
        try {
          while ((await store.enqueueDeliveries(ENQUEUE_BATCH, clock.now())) === ENQUEUE_BATCH && !this.stopped);
        } catch (err) {
          this.eventsWaiting = true
          throw err
        }
      }
      const free = DELIVERY_CONCURRENCY - this.inFlight.size
      if (free <= 0 || this.stopped) return
      for (const d of await store.claimDueDeliveries(clock.now(), free, LEASE_MS)) {
        const attempt: Promise<void> = this.deliver(d)
          .catch((err: unknown) => logger.error({ err: String(err), delivery: d.id }, 'webhook delivery failed unexpectedly'))
          .finally(() => {
            this.inFlight.delete(attempt)
            this.nudge()
          })
        this.inFlight.add(attempt)
      }
    } catch (err) {
      if (!this.stopped) logger.error({ err: String(err) }, 'webhook pass failed')
    }
  }

  private async deliver(d: DueDelivery): Promise<void> {
    const { store, clock } = this.deps
    if (!d.event) {
      await store.recordDeliveryAttempt(d.id, { at: clock.now(), status: null, error: 'the event is no longer in the log (kept 24 h)', state: 'abandoned', nextAttemptAt: clock.now() })
      return
    }
    let secret: string
    try {
      secret = this.deps.openSecret(d.sealedSecret, d.webhookId)
    } catch (err) {
      // another sealing key than the one it was sealed with: no attempt can ever be signed
      await store.recordDeliveryAttempt(d.id, { at: clock.now(), status: null, error: `cannot open the webhook's secret: ${(err as Error).message}`, state: 'abandoned', nextAttemptAt: clock.now() })
      return
    }
    const body = JSON.stringify(eventView(d.event))
    const result = await postWebhook({
      url: d.url, secret, body, eventType: d.event.type, deliveryId: d.id, unixS: Math.floor(clock.now() / 1000),
    }, { lookup: this.deps.lookup, allowPrivate: this.deps.allowPrivate })
    const next = afterAttempt(d, result, clock.now())
    if (next.state !== 'delivered') this.deps.logger.info({ webhook: d.webhookId, delivery: d.id, attempts: d.attempts + 1, state: next.state, error: next.error }, 'webhook delivery failed')
    await store.recordDeliveryAttempt(d.id, next)
  }
}
