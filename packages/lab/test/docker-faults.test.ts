import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DaemonSwitch } from './docker-switch.test-util.ts'
import { ManualClock } from '../src/clock/manual-clock.ts'
import type { DockerDriver } from '../src/drivers/docker/docker-driver.ts'
import { DockerEngine } from '../src/drivers/docker/engine.ts'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'
import { runtimeLayout } from '../src/drivers/host/layout.ts'
import { loadSeccompFilter } from '../src/drivers/host/seccomp.ts'
import { DriverError, type SandboxSpec } from '../src/drivers/types.ts'
import { LabMetrics } from '../src/observability/metrics.ts'
import { PoolController } from '../src/pool/controller.ts'
import { poolSpecSchema } from '../src/spec/pool-spec.ts'
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts'

const skip = await dockerSkipReason()
let seq = 0
const spec = (prefix: string, over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  id: `${prefix}-${process.pid}-${++seq}`, pool: 'faults', limits: { pids: 64, memoryMb: 128, cpus: 1 }, network: false, helloTimeoutMs: 15_000, ...over,
})

/** Agents that misbehave, through node's `-e`: the image's agent.mjs then only sits in argv. */
const SILENT_AGENT = ['-e', "require('net').createServer(() => {}).listen(process.argv[process.argv.indexOf('--socket') + 1])"]
const CRASHING_AGENT = ['-e', "process.stderr.write('agent: boom\\n'); process.exit(3)"]

/** Everything the driver could leave behind for `id`: its container, dirs and mounts. */
async function leftovers(driver: DockerDriver, id: string): Promise<string[]> {
  const L = runtimeLayout(driver.options.runtimeDir)
  const filters = encodeURIComponent(JSON.stringify({ label: [`org.infra-lab.sandbox=${id}`] }))
  const containers = (await new DockerEngine().json<{ Id: string }[]>('GET', `/containers/json?all=1&filters=${filters}`)) ?? []
  const paths = [L.sandboxDir(id), L.slotDir(id)].filter((p) => existsSync(p))
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(id))
  return [...containers.map((c) => `container ${c.Id}`), ...paths, ...mounts]
}

describe.skipIf(skip !== undefined)(`docker driver faults${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof dockerTestEnv>>
  let driver: DockerDriver
  const made: string[] = []

  beforeAll(async () => {
    env = await dockerTestEnv('faults')
    driver = await env.makeDriver()
  })
  afterEach(async () => {
    for (const id of made.splice(0)) await driver.destroy(id)
  })
  afterAll(() => env?.cleanup())

  it('a container killed from outside disappears from list() and destroy cleans up', async () => {
    const s = spec('killed')
    made.push(s.id)
    const h = await driver.create(s)
    const res = await driver.engine.call('POST', `/containers/${String(h.meta.containerId)}/kill`)
    expect(res.status).toBe(204)
    await expect.poll(async () => (await driver.list()).map((x) => x.id), { timeout: 10_000 }).not.toContain(h.id)
    await driver.destroy(h.id)
    expect(await leftovers(driver, h.id)).toEqual([])
  })

  it('a container removed from outside disappears from list() and leaves no slot behind', async () => {
    const s = spec('removed')
    made.push(s.id)
    const h = await driver.create(s)
    await driver.bindWorkspace(h, 'carol')
    expect((await driver.engine.call('DELETE', `/containers/${String(h.meta.containerId)}?force=1`)).status).toBe(204)
    expect((await driver.list()).map((x) => x.id)).not.toContain(h.id)
    expect(await leftovers(driver, h.id)).toEqual([])
    expect(existsSync(join(env.workspacesDir, 'carol'))).toBe(true)
  })

  it('the container gets the pool limits, a read-only root and no network', async () => {
    const s = spec('limits', { limits: { pids: 48, memoryMb: 96, cpus: 0.5 } })
    made.push(s.id)
    const h = await driver.create(s)
    const info = await driver.engine.json<{ HostConfig: Record<string, unknown>; Config: { User: string } }>('GET', `/containers/${String(h.meta.containerId)}/json`)
    expect(info!.HostConfig).toMatchObject({
      PidsLimit: 48, Memory: 96 * 1024 * 1024, NanoCpus: 500_000_000, ReadonlyRootfs: true, NetworkMode: 'none',
      CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges', `seccomp=${loadSeccompFilter().dockerProfile}`],
    })
    expect(info!.Config.User).toBe('100000:100000')
  })

  it('an agent that never says hello gives hello_timeout and leaves nothing behind', async () => {
    const silent = await env.makeDriver({ nodeFlags: SILENT_AGENT })
    const s = spec('silent', { helloTimeoutMs: 1500 })
    const err = await silent.create(s).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DriverError)
    expect((err as DriverError).reason).toBe('hello_timeout')
    expect(await leftovers(silent, s.id)).toEqual([])
  })

  it('an agent that exits at once gives exited_early with its log, and leaves nothing behind', async () => {
    const crashing = await env.makeDriver({ nodeFlags: CRASHING_AGENT })
    const s = spec('crash')
    const err = await crashing.create(s).catch((e: unknown) => e)
    expect((err as DriverError).reason).toBe('exited_early')
    expect((err as Error).message).toContain('boom')
    expect(await leftovers(crashing, s.id)).toEqual([])
  })

  it('a missing image: init still succeeds, creates refuse at once with what to run and make no container', async () => {
    const absent = await env.makeDriver({ image: 'infra-lab/sandbox:absent-for-test' })
    expect(absent.image).toMatchObject({ image: 'infra-lab/sandbox:absent-for-test', present: false })
    const s = spec('noimage')
    const err = await absent.create(s).catch((e: unknown) => e)
    expect((err as DriverError).reason).toBe('unavailable')
    expect((err as Error).message).toMatch(/infra-lab\/sandbox:absent-for-test is not on the Docker engine: run `npm run image:local`/)
    expect(await leftovers(absent, s.id)).toEqual([])
    const image = await driver.checkImage()
    expect(image).toMatchObject({ image: 'infra-lab/sandbox:local', present: true })
    expect(image.inspectMs).toBeGreaterThanOrEqual(0)
  })

  describe('with a pool controller', () => {
    const metrics = new LabMetrics()
    const store = new SqliteStore(':memory:')
    const clock = new ManualClock(1_000_000)
    const controllers: PoolController[] = []
    const controller = (d: DockerDriver, name: string) => {
      const c = new PoolController({
        spec: poolSpecSchema.parse({ name, driver: 'docker', policy: { kind: 'fixed', size: 1 }, limits: { pids: 64, memoryMb: 128, cpus: 1 } }),
        driver: d, store, clock, metrics, logger: pino({ level: 'silent' }), helloTimeoutMs: 1500, backoff: { random: () => 0 },
      })
      controllers.push(c)
      return c
    }
    const failures = async (reason: string) =>
      (await metrics.sandboxFailures.get()).values.find((v) => v.labels.driver === 'docker' && v.labels.reason === reason)?.value ?? 0
    afterAll(async () => {
      for (const c of controllers) await c.stop({ destroyInFlight: true })
      await store.close()
    })

    it('a pool whose image is missing is not ready and says why, instead of a stream of failed creates', async () => {
      const c = controller(await env.makeDriver({ image: 'infra-lab/sandbox:absent-for-test' }), 'noimage')
      await c.reconcile()
      await c.settled()
      await c.reconcile()
      expect(c.status()).toMatchObject({ ready: 0, starting: 0 })
      expect(c.status().lastError).toMatch(/^unavailable: image infra-lab\/sandbox:absent-for-test is not on the Docker engine: run `npm run image:local`/)
      expect(c.status().backoffUntil).toBeGreaterThan(clock.now())
    })

    it('a sandbox that never says hello is counted in lab_sandbox_failures_total and removed', async () => {
      const silent = await env.makeDriver({ nodeFlags: SILENT_AGENT })
      const c = controller(silent, 'silent')
      await c.reconcile()
      await c.settled()
      await c.reconcile() // writes the status; the back-off holds the next create (the clock stands still)
      expect(await failures('hello_timeout')).toBe(1)
      expect(c.status()).toMatchObject({ ready: 0, starting: 0 })
      expect(c.status().lastError).toMatch(/^hello_timeout: /)
      expect(await silent.list()).toEqual([])
    })

    it('the daemon stops answering: clear unavailable errors, back-off, and recovery by itself when it is back', async () => {
      const sw = new DaemonSwitch(join(env.options.dataDir, '..', 'docker-proxy.sock'))
      await sw.up()
      try {
        const d = await env.makeDriver({ dockerSocket: sw.path })
        await sw.down()
        const err = await d.create(spec('down')).catch((e: unknown) => e)
        expect((err as DriverError).reason).toBe('unavailable')
        expect((err as Error).message).toMatch(/no Docker daemon answers at .*docker-proxy\.sock.*start the daemon/)
        await expect(d.list()).rejects.toThrow(/no Docker daemon answers/)
        await expect(d.destroy('whatever-1')).rejects.toThrow(/no Docker daemon answers/)

        const c = controller(d, 'daemon')
        await c.reconcile()
        await c.settled()
        await c.reconcile()
        expect(await failures('unavailable')).toBeGreaterThanOrEqual(1)
        const down = c.status()
        expect(down.ready).toBe(0)
        expect(down.lastError).toMatch(/^unavailable: .*no Docker daemon answers/)
        expect(down.backoffUntil).toBeGreaterThan(clock.now())

        await sw.up()
        clock.advance(down.backoffUntil! - clock.now())
        for (let i = 0; i < 5 && c.status().ready < 1; i++) {
          await c.reconcile()
          await c.settled()
        }
        expect(c.status()).toMatchObject({ ready: 1, starting: 0 })
        expect(c.status().lastError).toBeUndefined()
      } finally {
        await sw.down()
      }
    })
  })
})
