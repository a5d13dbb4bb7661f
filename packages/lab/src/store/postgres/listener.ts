import pg from 'pg'

/** The channel every store on a database notifies after committing events. */
export const EVENTS_CHANNEL = 'infra_lab_events'

const RECONNECT_MIN_MS = 100
const RECONNECT_MAX_MS = 5000
/** How often the listener asks whether it is wanted (LISTEN) or not (UNLISTEN). */
export const DEMAND_CHECK_MS = 50

/**
 * One dedicated connection that LISTENs on EVENTS_CHANNEL and calls `onEvents` when another store
 * (another process, or another instance in this one) committed events: its notification carries
 * the writer's id, and this store's own are skipped (it tells its watchers itself, at commit). A
 * lost connection is opened again with backoff; after a reconnect `onEvents` is called once, since
 * notifications sent meanwhile were lost. It listens only while `wanted()` (checked every
 * DEMAND_CHECK_MS): a notification wakes every listening connection's server process and its
 * client, so a replica with no use for them does not listen; when it starts again, `onEvents` is
 * called once, as after a reconnect.
 */
export class EventsListener {
  private client: pg.Client | undefined
  private timer: NodeJS.Timeout | undefined
  private delayMs = RECONNECT_MIN_MS
  private stopped = false
  private connectedOnce = false
  /** Whether the current connection LISTENs (or is about to: a statement is on its way). */
  private listening = false
  private switching = false
  private readonly demandTimer: NodeJS.Timeout
  /** Resolves once the connection listens (the first time). */
  readonly ready: Promise<void>
  private resolveReady!: () => void

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly self: string,
    private readonly onEvents: () => void,
    private readonly onError: (err: Error) => void,
    private readonly wanted: () => boolean = () => true,
  ) {
    this.ready = new Promise((resolve) => { this.resolveReady = resolve })
    this.demandTimer = setInterval(() => void this.followDemand(), DEMAND_CHECK_MS)
    this.demandTimer.unref()
    void this.connect()
  }

  /** LISTEN or UNLISTEN as `wanted()` now says, on the connection there is (none: connect() decides). */
  private async followDemand(): Promise<void> {
    const client = this.client
    if (!client || !this.connectedOnce || this.switching || this.stopped) return
    const want = this.wanted()
    if (want === this.listening) return
    this.switching = true
    try {
      await client.query(want ? `LISTEN ${EVENTS_CHANNEL}` : `UNLISTEN ${EVENTS_CHANNEL}`)
      if (this.client !== client) return
      this.listening = want
      if (want) this.onEvents() // what was committed while not listening
    } catch {
      // the connection's own error handler reconnects
    } finally {
      this.switching = false
    }
  }

  private async connect(): Promise<void> {
    this.timer = undefined
    if (this.stopped) return
    const client = new pg.Client(this.config)
    this.client = client
    let lost = false
    const onLost = (err?: Error) => {
      if (lost) return
      lost = true
      if (err) this.onError(err)
      void client.end().catch(() => undefined)
      if (this.client === client) this.client = undefined
      this.reconnectLater()
    }
    client.on('error', onLost)
    client.on('end', () => onLost())
    client.on('notification', (n) => {
      if (n.channel === EVENTS_CHANNEL && n.payload !== this.self) this.onEvents()
    })
    const want = this.wanted()
    try {
      await client.connect()
      if (want) await client.query(`LISTEN ${EVENTS_CHANNEL}`)
    } catch (err) {
      onLost(err as Error)
      return
    }
    if (this.stopped) {
      await client.end().catch(() => undefined)
      return
    }
    this.delayMs = RECONNECT_MIN_MS
    this.listening = want
    if (this.connectedOnce && want) this.onEvents()
    this.connectedOnce = true
    this.resolveReady()
  }

  private reconnectLater(): void {
    if (this.stopped || this.timer) return
    this.timer = setTimeout(() => void this.connect(), this.delayMs)
    this.timer.unref()
    this.delayMs = Math.min(RECONNECT_MAX_MS, this.delayMs * 2)
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    clearInterval(this.demandTimer)
    const client = this.client
    this.client = undefined
    await client?.end().catch(() => undefined)
  }
}
