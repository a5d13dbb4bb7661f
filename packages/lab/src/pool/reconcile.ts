import type { Logger } from 'pino'
import { systemClock, type Clock } from '../clock/clock.ts'
import type { SandboxDriver } from '../drivers/types.ts'
import type { SandboxRecord, Store } from '../store/types.ts'
import { SandboxTeardown } from './teardown.ts'

export interface ReconcileReport {
  /** Sandboxes the driver runs that the store did not know, or knew only as starting/destroying. */
  readonly orphansDestroyed: string[]
  /** Store records whose sandbox is gone. */
  readonly recordsDeleted: string[]
  /** Sessions ended with 'sandbox_lost' because their sandbox vanished. */
  readonly sessionsEnded: string[]
  /** Warm and claimed sandboxes that are alive and stay as they are. */
  readonly kept: string[]
}

export interface ReconcileOptions {
  readonly driver: SandboxDriver
  readonly store: Store
  readonly logger: Logger
  readonly clock?: Clock
  /**
   * Only this pool's sandboxes, records and sessions (a replica that just took the pool's lease);
   * default every pool of the driver (one gateway alone on its store, at start).
   */
  readonly pool?: string
  /**
   * Records and sandboxes created less than this long ago are left alone: with replicas sharing
   * the store, another replica's create (a cold start for its claim) may be under way. Default 0.
   */
  readonly spareRecentMs?: number
}

/**
 * Makes the store and one driver agree after a gateway restart, or when a replica takes a
 * pool's lease. Claimed sandboxes that are alive are left alone: their shells survive a restart.
 * Store records of other drivers are not touched (a record's driver is its handle's, else its
 * pool spec's). The driver is listed before the store is read, so a sandbox the driver shows has
 * its record in the read (a create inserts the record first).
 */
export async function reconcileOnStart(opts: ReconcileOptions): Promise<ReconcileReport> {
  const { driver, store, logger } = opts
  const now = (opts.clock ?? systemClock).now()
  const inScope = (pool: string) => opts.pool === undefined || pool === opts.pool
  const spareAfter = (opts.spareRecentMs ?? 0) > 0 ? now - opts.spareRecentMs! : Infinity
  const spared = new Set<string>()
  const report: ReconcileReport = { orphansDestroyed: [], recordsDeleted: [], sessionsEnded: [], kept: [] }
  const teardown = new SandboxTeardown({ store, driver, logger })
  const destroy = async (id: string) => {
    if (!(await teardown.destroy(id, 'orphan'))) throw new Error(`cannot destroy orphan sandbox ${id} (see the log)`)
  }

  const poolDrivers = new Map((await store.listPools()).map((p) => [p.name, p.driver]))
  const owned = (pool: string, r?: SandboxRecord) => (r?.handle?.driver ?? poolDrivers.get(pool) ?? driver.name) === driver.name
  const endLost = async (sessionId: string | null) => {
    if (sessionId && (await store.endSession(sessionId, 'sandbox_lost', now))) report.sessionsEnded.push(sessionId)
  }

  const alive = new Set<string>()
  const listed = (await driver.list()).filter((h) => inScope(h.pool))
  const records = new Map((await store.listSandboxes(opts.pool === undefined ? {} : { pool: opts.pool })).map((r) => [r.id, r]))
  for (const r of records.values()) if (r.createdAt > spareAfter) spared.add(r.id)
  for (const h of listed) {
    const rec = records.get(h.id)
    if (rec && spared.has(rec.id)) continue
    if (rec && (rec.state === 'warm' || rec.state === 'claimed')) {
      alive.add(h.id)
      report.kept.push(h.id)
      continue
    }
    logger.warn({ sandbox: h.id, state: rec?.state ?? 'unknown' }, 'destroying orphan sandbox')
    if (rec) await endLost(rec.sessionId)
    await destroy(h.id)
    report.orphansDestroyed.push(h.id)
  }

  for (const rec of records.values()) {
    if (alive.has(rec.id) || spared.has(rec.id) || report.orphansDestroyed.includes(rec.id) || !owned(rec.pool, rec)) continue
    logger.warn({ sandbox: rec.id, state: rec.state, session: rec.sessionId }, 'sandbox vanished; deleting its record')
    await endLost(rec.sessionId)
    // A record left starting or destroying may still have pieces on the host: destroy is idempotent.
    if (rec.state === 'starting' || rec.state === 'destroying') await destroy(rec.id)
    else await teardown.forget(rec.id)
    report.recordsDeleted.push(rec.id)
  }

  // Open sessions whose sandbox record is gone altogether.
  for (const state of ['starting', 'running'] as const) {
    for (const s of await store.listSessions({ state, ...(opts.pool === undefined ? {} : { pool: opts.pool }) })) {
      if (s.sandboxId !== null && (alive.has(s.sandboxId) || spared.has(s.sandboxId))) continue
      if (s.createdAt > spareAfter) continue
      if (!owned(s.pool, s.sandboxId === null ? undefined : records.get(s.sandboxId))) continue
      logger.warn({ session: s.id, sandbox: s.sandboxId }, 'session lost its sandbox')
      await endLost(s.id)
    }
  }
  return report
}
