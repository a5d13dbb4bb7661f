import { mkdirSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { systemClock, type Clock } from '../clock/clock.ts'
import type { GatewayConfig } from '../config/load.ts'
import type { SandboxDriver } from '../drivers/types.ts'
import { LabMetrics } from '../observability/metrics.ts'
import { DEFAULT_FOLLOWER_SYNC_MS, DEFAULT_HELLO_TIMEOUT_MS } from '../pool/controller.ts'
import { ALWAYS_HELD, LeaseKeeper, poolLeaseName } from '../pool/lease.ts'
import { reconcileOnStart } from '../pool/reconcile.ts'
import { PoolRuntime } from '../pool/runtime.ts'
import type { DriverName } from '../spec/pool-spec.ts'
import { openStore } from '../store/open.ts'
import type { Store } from '../store/types.ts'
import { resolveApiKey } from './api-key.ts'
import { buildApp } from './app.ts'
import type { EgressOptions } from '../drivers/host/egress-net.ts'
import { loadSealer, startEgress, usesHostProxy, type GatewayEgress } from './egress-setup.ts'
import { EventBus } from './event-bus.ts'
import { PoolStatusEvents } from './pool-events.ts'
import { SessionNetworks } from './session-network.ts'
import { SessionService } from './sessions.ts'
import { PoolStatsSampler } from './stats.ts'
import { systemLookup, type Lookup } from './webhooks/target.ts'
import { WebhookWorker } from './webhooks/worker.ts'

/** What the gateway hands a driver besides its configuration: the egress proxy its network sandboxes use. */
export interface DriverExtras {
  readonly egress?: EgressOptions
}
/** How long a stop waits for requests in flight (a followed output, a streamed exec) before cutting them. */
export const STOP_GRACE_MS = 3000

/**
 * Closes the API: new requests are refused at once, requests in flight get `graceMs` to finish,
 * then their connections are cut, so a client that keeps a stream open cannot hold a stop (or a
 * restart) up. The shells behind those streams keep running; the next start resumes them.
 */
async function closeWithin(app: FastifyInstance, graceMs: number, logger: Logger): Promise<void> {
  const closing = app.close()
  let timer: NodeJS.Timeout | undefined
  const late = await Promise.race([closing.then(() => false), new Promise<boolean>((r) => { timer = setTimeout(() => r(true), graceMs) })])
  clearTimeout(timer)
  if (late) {
    logger.info({ graceMs }, 'stopping: cutting the requests still in flight')
    app.server.closeAllConnections()
    await closing
  }
}

/**
 * How often idle and lifetime limits are checked: well inside EXPIRING_WARNING_S, so a
 * session's terminal is warned about a minute before it ends, not a sweep late.
 */
export const SWEEP_INTERVAL_MS = 1000

/** How long the event log keeps an event: `Last-Event-ID` resumes without loss within it. */
export const EVENT_RETENTION_MS = 24 * 3600 * 1000
const PURGE_INTERVAL_MS = 60_000
/** How long the events of other replicas collect before they nudge the pools this replica runs (one pass for all of them). */
const EVENT_NUDGE_MS = 20

/** Deletes what outlived its retention: ended sessions (`retainEndedS`), events and finished webhook deliveries (24 h). */
export async function purgeOld(store: Store, now: number, retainEndedS: number): Promise<{ sessions: number; events: number }> {
  const events = await store.purgeEvents(now - EVENT_RETENTION_MS)
  await store.purgeDeliveries(now - EVENT_RETENTION_MS)
  return { sessions: await store.purgeEndedSessions(now - retainEndedS * 1000), events }
}

export type DriverFactory = (name: DriverName, extras?: DriverExtras) => Promise<SandboxDriver>

export interface GatewayOptions {
  readonly config: GatewayConfig
  readonly logger: Logger
  readonly makeDriver: DriverFactory
  readonly clock?: Clock
  /** How often idle and lifetime limits are checked. */
  readonly sweepIntervalMs?: number
  /** How webhook hosts are resolved (default: the host's resolver). */
  readonly webhookLookup?: Lookup
}

export interface StartedGateway {
  readonly app: FastifyInstance
  readonly url: string
  readonly apiKey: string
  readonly apiKeySource: 'config' | 'file' | 'generated'
  readonly store: Store
  readonly sessions: SessionService
  readonly pools: ReadonlyMap<string, PoolRuntime>
  readonly metrics: LabMetrics
  readonly events: EventBus
  /** This gateway's name among replicas. */
  readonly replicaId: string
  /** The pool leases this replica holds now (`pool:<name>`); every pool's when the store is its own. */
  leases(): string[]
  /** Closes the API and the channels; sandboxes and shells keep running (restart resumes them). */
  stop(): Promise<void>
}

/** Composes store, drivers, pool controllers, sessions and the HTTP API, and starts them. */
export async function startGateway(opts: GatewayOptions): Promise<StartedGateway> {
  const { config, logger } = opts
  const clock = opts.clock ?? systemClock
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  mkdirSync(config.workspacesDir, { recursive: true, mode: 0o711 })
  const { key: apiKey, source: apiKeySource } = resolveApiKey(config.dataDir, config.apiKey)
  const store = await openStore(config.dataDir, config.store, (err) => logger.warn({ err: err.message }, 'store: a database connection was lost; it reconnects'))
  const metrics = new LabMetrics({ defaultMetrics: true, replica: config.replicaId })
  // A shared database means replicas: each pool's controller runs where its lease is held, and
  // the pool is reconciled when the lease is taken rather than at start.
  const replicated = config.store.url !== undefined

  const drivers = new Map<DriverName, SandboxDriver>()
  const pools = new Map<string, PoolRuntime>()
  const followerSyncMs = Math.min(DEFAULT_FOLLOWER_SYNC_MS, config.leaseRenewMs)
  const byLease = new Map(config.pools.map((p) => [poolLeaseName(p.name), p.name]))
  const leaseKeeper = replicated
    ? new LeaseKeeper({
      store, clock, logger, holder: config.replicaId, renewMs: config.leaseRenewMs, names: [...byLease.keys()],
      onAcquired: async (name) => {
        const pool = pools.get(byLease.get(name)!)
        if (!pool) throw new Error(`pool of lease ${name} is not running yet`)
        // Another replica's create may be under way: records and sandboxes younger than any create are spared.
        const report = await reconcileOnStart({ driver: pool.driver, store, logger, clock, pool: pool.spec.name, spareRecentMs: 2 * DEFAULT_HELLO_TIMEOUT_MS })
        logger.info({ pool: pool.spec.name, ...report }, 'reconciled the pool on taking its lease')
      },
      onReady: (name) => pools.get(byLease.get(name)!)?.controller.nudge(),
    })
    : undefined
  let egress: GatewayEgress | undefined
  try {
    // Before the drivers: their network sandboxes need the proxy's rules in place.
    egress = await startEgress(config, config.pools, metrics, logger)
    for (const spec of config.pools) {
      let driver = drivers.get(spec.driver)
      if (!driver) {
        driver = await opts.makeDriver(spec.driver, egress?.host ? { egress: egress.host.driver } : {})
        await driver.init()
        if (!replicated) {
          const report = await reconcileOnStart({ driver, store, logger })
          logger.info({ driver: spec.driver, ...report }, 'reconciled sandboxes after start')
        }
        drivers.set(spec.driver, driver)
      }
      await store.upsertPool(spec, clock.now())
      const lease = leaseKeeper?.lease(poolLeaseName(spec.name)) ?? ALWAYS_HELD
      pools.set(spec.name, new PoolRuntime({ spec, driver, store, clock, metrics, logger, lease, followerSyncMs }))
    }
  } catch (err) {
    await egress?.stop()
    await store.close()
    throw err
  }

  const networks = new SessionNetworks({
    store, logger, ...(egress ? { sealer: egress.sealer } : {}),
    proxyFor: (p) => egress?.proxyFor(p),
    injects: (p) => usesHostProxy(p),
    claimEnv: (p) => (p.driver === 'ecs' ? egress?.ecs?.env ?? {} : {}),
    poolSpec: (name) => pools.get(name)?.spec,
  })
  const sessions = new SessionService({
    store, pools, clock, metrics, logger, attachTokenTtlS: config.attachTokenTtlS, networks,
    limits: { maxSessionsPerUser: config.maxSessionsPerUser, maxSessionTimeoutS: config.maxSessionTimeoutS },
    ...(replicated ? { replicated: { syncMs: followerSyncMs } } : {}),
  })
  for (const p of pools.values()) p.controller.start()
  leaseKeeper?.start()
  // Claims and ends on other replicas are events here (LISTEN/NOTIFY): the pool's runner refills
  // at once on the first, then at most once per EVENT_NUDGE_MS for those that follow (one pass for
  // all of them). A pass reads the pool's warm sandboxes back: one per event would cost every
  // claim of a burst on another replica a read of the pool.
  let nudgeWindow = false
  let eventsInWindow = false
  let cancelNudge = (): void => undefined
  const nudgeLed = (): void => {
    for (const p of pools.values()) if (leaseKeeper?.isHeld(poolLeaseName(p.spec.name))) p.controller.nudge()
  }
  const openWindow = (): void => {
    nudgeWindow = true
    cancelNudge = clock.setTimer(EVENT_NUDGE_MS, () => {
      nudgeWindow = false
      if (!eventsInWindow) return
      eventsInWindow = false
      nudgeLed()
      openWindow()
    })
  }
  const stopWatchingPools = leaseKeeper
    ? store.watchEvents(() => {
      if (nudgeWindow) {
        eventsInWindow = true
        return
      }
      nudgeLed()
      openWindow()
    })
    : () => undefined
  const heldLeases = (): string[] => leaseKeeper?.heldNames() ?? [...pools.keys()].map(poolLeaseName)

  let stopping = false
  const sampler = new PoolStatsSampler(pools, clock)
  sampler.start()
  const sealer = egress?.sealer ?? await loadSealer(config)
  const lookup = opts.webhookLookup ?? systemLookup
  const webhooks = new WebhookWorker({
    store, clock, logger: logger.child({ component: 'webhooks' }), lookup, allowPrivate: config.allowPrivateWebhooks,
    openSecret: (sealed, id) => sealer.open(sealed, id).toString('utf8'),
  })
  // The log is read only while someone listens: an event stream, or webhooks to deliver to.
  const events = new EventBus({ store, clock, logger, demand: () => webhooks.wantsEvents })
  await events.start()
  // Other replicas' events are heard only while this replica has a use for them: a pool it runs
  // (refills), an event stream it serves, webhooks to deliver. The event bus also polls the log.
  store.setEventDemand(() => heldLeases().length > 0 || events.subscriberCount > 0 || webhooks.wantsEvents)
  const poolEvents = new PoolStatusEvents({ pools, store, clock, logger })
  poolEvents.start()
  const stopNudging = events.onEvents(() => webhooks.eventsAppended())
  webhooks.start()
  const app = await buildApp({
    apiKey, store, pools, sessions, networks, metrics, logger, clock, events,
    webhooks: { sealSecret: (secret, id) => sealer.seal(secret, id), lookup, allowPrivate: config.allowPrivateWebhooks, changed: () => webhooks.nudge() },
    maxBodyBytes: config.maxBodyBytes,
    wsMaxFrameBytes: config.wsMaxFrameBytes,
    maxUploadBytes: config.maxUploadBytes,
    isHealthy: () => !stopping,
    replica: { id: config.replicaId, leases: heldLeases },
    stats: { clock, sampler, lastActivityMs: (id) => sessions.lastActivityMs(id) },
  })
  // On the gateway's clock, a sweep after the last one finished: a slow store never stacks them up.
  const sweepEveryMs = opts.sweepIntervalMs ?? SWEEP_INTERVAL_MS
  let cancelSweep = (): void => undefined
  let sweeping: Promise<unknown> = Promise.resolve()
  const scheduleSweep = (): void => {
    cancelSweep = clock.setTimer(sweepEveryMs, () => {
      sweeping = Promise.all([
        sessions.sweep().catch((err) => logger.error({ err: String(err) }, 'sweep failed')),
        store.deleteExpiredAttachTokens(clock.now()).catch(() => undefined),
      ]).then(() => { if (!stopping) scheduleSweep() })
    })
  }
  scheduleSweep()
  // Ended sessions past their retention, events past theirs: once a minute is plenty.
  const purgeTimer = setInterval(() => void purgeOld(store, clock.now(), config.retainEndedS).catch((err) => logger.error({ err: String(err) }, 'purge failed')), PURGE_INTERVAL_MS)
  purgeTimer.unref()

  await app.listen({ host: config.host, port: config.port })
  // After the port is open: a slow or hostile agent delays only its own session, never start-up.
  // Replicas connect to every open session without ending any (another replica may be claiming
  // one right now); one gateway alone resumes its sessions and ends those that are gone.
  if (replicated) sessions.startSync()
  const resuming = (replicated ? Promise.resolve({ resumed: 0, ended: 0 }) : sessions.resume()).then(
    (r) => { if (r.resumed + r.ended > 0) logger.info(r, 'resumed running sessions') },
    (err: unknown) => logger.error({ err: String(err) }, 'resuming sessions failed'),
  )
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : config.port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  const url = `http://${host}:${port}`

  return {
    app, url, apiKey, apiKeySource, store, sessions, pools, metrics, events, replicaId: config.replicaId, leases: heldLeases,
    async stop() {
      if (stopping) return
      stopping = true
      cancelSweep()
      await sweeping
      clearInterval(purgeTimer)
      sampler.stop()
      poolEvents.stop()
      stopNudging()
      events.stop()
      await webhooks.stop()
      stopWatchingPools()
      cancelNudge()
      for (const p of pools.values()) await p.controller.stop()
      // Given up at once, so another replica runs the pools without waiting for the leases to lapse.
      await leaseKeeper?.stop()
      sessions.detachAll()
      await resuming
      await closeWithin(app, STOP_GRACE_MS, logger)
      await egress?.stop()
      await store.close()
    },
  }
}
