import { pino } from 'pino'
import type { Clock } from '../clock/clock.ts'
import { ManualClock } from '../clock/manual-clock.ts'
import { FakeDriver, type FakeDriverOptions } from '../drivers/fake/fake-driver.ts'
import { LabMetrics } from '../observability/metrics.ts'
import { SqliteStore } from '../store/sqlite/sqlite-store.ts'
import type { Store } from '../store/types.ts'
import type { PoolController } from './controller.ts'
import { PoolRuntime } from './runtime.ts'
import { poolSpecSchema, type PoolSpecInput } from '../spec/pool-spec.ts'

export interface PoolFixtureOptions {
  /** Wraps the store the pool uses (the fixture's `store` stays the unwrapped one). */
  readonly wrapStore?: (store: Store) => Store
  /** A driver of the test's own instead of `new FakeDriver(driverOptions)`. */
  readonly driver?: FakeDriver
  /** The pool's clock instead of the fixture's ManualClock (e.g. the system clock). */
  readonly clock?: Clock
}

/** A pool (runtime and controller) over FakeDriver + SqliteStore(':memory:') + ManualClock(0), for tests. */
export function makePool(spec: Partial<PoolSpecInput> = {}, driverOptions: FakeDriverOptions = {}, opts: PoolFixtureOptions = {}) {
  const clock = new ManualClock(0)
  const store = new SqliteStore(':memory:')
  /** What the pool uses: the store itself, or a wrapper of it (e.g. one that counts calls). */
  const poolStore = opts.wrapStore?.(store) ?? store
  const driver = opts.driver ?? new FakeDriver(driverOptions)
  const metrics = new LabMetrics()
  const logger = pino({ level: 'silent' })
  const poolSpec = poolSpecSchema.parse({ name: 'alpha', driver: 'fake', ...spec })
  let n = 0
  const others: PoolController[] = []
  /** Another controller on the same store, driver and clock (as after a gateway restart). */
  const runtimeWith = (override: Partial<PoolSpecInput> = {}) => new PoolRuntime({
    spec: poolSpecSchema.parse({ ...poolSpec, ...override }), driver, store: poolStore, clock: opts.clock ?? clock, metrics, logger, helloTimeoutMs: 2000,
    backoff: { random: () => 0 }, newId: () => `sb-${String(++n).padStart(3, '0')}`,
  })
  const runtime = runtimeWith()
  const controller = runtime.controller
  return {
    clock, store, driver, metrics, logger, runtime, controller, spec: poolSpec,
    restarted(override: Partial<PoolSpecInput> = {}): PoolController {
      const c = runtimeWith(override).controller
      others.push(c)
      return c
    },
    /** Reconciles until nothing is being created, then waits for everything in flight. */
    async converge(maxPasses = 50): Promise<void> {
      for (let i = 0; i < maxPasses; i++) {
        await controller.reconcile()
        if (controller.status().starting === 0) break
        await controller.settled()
      }
      await controller.settled()
    },
    async warmIds(): Promise<string[]> {
      return (await store.listSandboxes({ pool: 'alpha', state: 'warm' })).map((s) => s.id)
    },
    async metric(name: string, labels: Record<string, string>): Promise<number | undefined> {
      const m = await metrics.registry.getSingleMetric(name)?.get()
      return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value
    },
    async close(): Promise<void> {
      for (const c of [controller, ...others]) await c.stop({ destroyInFlight: true })
      await driver.teardown()
      await store.close()
    },
  }
}

export const session = (id: string, user = 'ada') => ({ id, user, pool: 'alpha', createdAt: 0, envNames: [] })
