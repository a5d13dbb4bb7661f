import { pino } from 'pino'
import { ManualClock } from '../clock/manual-clock.ts'
import { FakeDriver, type FakeDriverOptions } from '../drivers/fake/fake-driver.ts'
import { LabMetrics } from '../observability/metrics.ts'
import { SqliteStore } from '../store/sqlite/sqlite-store.ts'
import { PoolController } from './controller.ts'
import { poolSpecSchema, type PoolSpecInput } from '../spec/pool-spec.ts'

/** A pool controller over FakeDriver + SqliteStore(':memory:') + ManualClock(0), for tests. */
export function makePool(spec: Partial<PoolSpecInput> = {}, driverOptions: FakeDriverOptions = {}) {
  const clock = new ManualClock(0)
  const store = new SqliteStore(':memory:')
  const driver = new FakeDriver(driverOptions)
  const metrics = new LabMetrics()
  const logger = pino({ level: 'silent' })
  const poolSpec = poolSpecSchema.parse({ name: 'alpha', driver: 'fake', ...spec })
  let n = 0
  const others: PoolController[] = []
  /** Another controller on the same store, driver and clock (as after a gateway restart). */
  const controllerWith = (override: Partial<PoolSpecInput> = {}) => new PoolController({
    spec: poolSpecSchema.parse({ ...poolSpec, ...override }), driver, store, clock, metrics, logger, helloTimeoutMs: 2000,
    backoff: { random: () => 0 }, newId: () => `sb-${String(++n).padStart(3, '0')}`,
  })
  const controller = controllerWith()
  return {
    clock, store, driver, metrics, logger, controller, spec: poolSpec,
    restarted(override: Partial<PoolSpecInput> = {}): PoolController {
      const c = controllerWith(override)
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
