import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { SqliteStore } from '../store/sqlite/sqlite-store.ts'
import { SandboxTeardown } from './teardown.ts'
import { session } from './test-fixture.ts'

const spec = (id: string) => ({ id, pool: 'alpha', limits: { pids: 256, memoryMb: 512, cpus: 1 }, network: false, helloTimeoutMs: 2000 })

describe('SandboxTeardown', () => {
  let store: SqliteStore
  let driver: FakeDriver
  let teardown: SandboxTeardown
  const started = async (id: string) => {
    await store.insertSandbox({ id, pool: 'alpha', createdAt: 0 })
    await store.markSandboxWarm(id, await driver.create(spec(id)), 0)
  }
  beforeEach(() => {
    store = new SqliteStore(':memory:')
    driver = new FakeDriver()
    teardown = new SandboxTeardown({ store, driver, logger: pino({ level: 'silent' }) })
  })
  afterEach(async () => {
    await driver.teardown()
    await store.close()
  })

  it('retires a warm sandbox: destroying at once, then destroyed and its row deleted', async () => {
    await started('sb-1')
    const retiring = await teardown.retireWarm('sb-1', 'surplus')
    expect((await store.getSandbox('sb-1'))?.state).toBe('destroying')
    expect(await retiring?.destroyed).toBe(true)
    expect(driver.destroyed).toEqual(['sb-1'])
    expect(await store.getSandbox('sb-1')).toBeUndefined()
  })

  it('does not retire a sandbox a claim took first', async () => {
    await started('sb-1')
    await store.claimWarm('alpha', session('s-1'), 0)
    expect(await teardown.retireWarm('sb-1', 'recycled')).toBeUndefined()
    expect(driver.destroyed).toEqual([])
    expect((await store.getSandbox('sb-1'))?.state).toBe('claimed')
  })

  it('destroys a claimed sandbox, and again without harm', async () => {
    await started('sb-1')
    await store.claimWarm('alpha', session('s-1'), 0)
    expect(await teardown.destroy('sb-1', 'session_ended')).toBe(true)
    expect(await teardown.destroy('sb-1', 'session_ended')).toBe(true)
    expect(driver.destroyed).toEqual(['sb-1'])
    expect(await store.listSandboxes()).toEqual([])
  })

  it('leaves the row destroying when the driver fails, for the next start to retry', async () => {
    await started('sb-1')
    const destroy = driver.destroy
    driver.destroy = async () => { throw new Error('driver down') }
    expect(await teardown.destroy('sb-1', 'session_ended')).toBe(false)
    expect((await store.getSandbox('sb-1'))?.state).toBe('destroying')
    driver.destroy = destroy
  })
})
