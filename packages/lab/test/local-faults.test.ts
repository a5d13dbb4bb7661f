import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { waitForOutput } from '../src/drivers/contract.ts'
import type { AgentChannel } from '../src/drivers/channel.ts'
import type { LocalDriver } from '../src/drivers/local/local-driver.ts'
import { runtimeLayout } from '../src/drivers/host/layout.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { DriverError, type SandboxHandle, type SandboxSpec } from '../src/drivers/types.ts'

const skip = localDriverSkipReason()
let seq = 0
const spec = (prefix: string, over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  id: `${prefix}-${process.pid}-${++seq}`, pool: 'faults', limits: { pids: 64, memoryMb: 128, cpus: 1 }, network: false, helloTimeoutMs: 15_000, ...over,
})

/** Everything the driver could leave behind for `id`: dirs, cgroups, mounts. */
async function leftovers(driver: LocalDriver, id: string): Promise<string[]> {
  const L = runtimeLayout(driver.options.runtimeDir)
  const paths = [L.sandboxDir(id), L.slotDir(id), ...(await driver.cgroupDirs(id))].filter((p) => existsSync(p))
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(id))
  return [...paths, ...mounts]
}

async function claimShell(driver: LocalDriver, h: SandboxHandle, user: string): Promise<AgentChannel> {
  const b = await driver.bindWorkspace(h, user)
  const c = await driver.connect(h)
  await c.claim({ sessionId: `s-${h.id}`, user, home: b.home, env: {}, secrets: {} }, 10_000)
  return c
}

describe.skipIf(skip !== undefined)(`local driver faults${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof localTestEnv>>
  let driver: LocalDriver
  const made: string[] = []
  const channels: AgentChannel[] = []
  const create = async (s: SandboxSpec, d: LocalDriver = driver) => {
    made.push(s.id)
    return d.create(s)
  }

  beforeAll(async () => {
    env = await localTestEnv('faults')
    driver = await env.makeDriver()
  })
  afterEach(async () => {
    for (const c of channels.splice(0)) c.close()
    for (const id of made.splice(0)) await driver.destroy(id)
  })
  afterAll(() => env?.cleanup())

  it('a sandbox killed from outside disappears from list() and destroy cleans up', async () => {
    const h = await create(spec('killed'))
    process.kill(Number(h.meta.pid), 'SIGKILL')
    await expect.poll(async () => (await driver.list()).map((x) => x.id), { timeout: 5000 }).not.toContain(h.id)
    await driver.destroy(h.id)
    expect(await leftovers(driver, h.id)).toEqual([])
  })

  it('sets the memory, pids and cpu limits in the sandbox cgroups', async () => {
    const h = await create(spec('limits', { limits: { pids: 48, memoryMb: 96, cpus: 0.5 } }))
    const dirs = await driver.cgroupDirs(h.id)
    const read = async (file: string) => {
      for (const d of dirs) if (existsSync(join(d, file))) return (await readFile(join(d, file), 'utf8')).trim()
      return undefined
    }
    const memory = (await read('memory.limit_in_bytes')) ?? (await read('memory.max'))
    expect(memory).toBe(String(96 * 1024 * 1024))
    expect(await read('pids.max')).toBe('48')
    const cpu = (await read('cpu.cfs_quota_us')) ?? (await read('cpu.max'))?.split(' ')[0]
    expect(cpu).toBe('50000')
    const procs = (await Promise.all(dirs.map((d) => readFile(join(d, 'cgroup.procs'), 'utf8')))).map((t) => t.trim().split('\n').sort())
    expect(procs.every((p) => p.includes(String(h.meta.pid)))).toBe(true)
  })

  it('the pids limit stops a fork bomb without affecting another sandbox', async () => {
    const [a, b] = await Promise.all([create(spec('bomb', { limits: { pids: 32, memoryMb: 128, cpus: 1 } })), create(spec('calm'))])
    const [ca, cb] = [await claimShell(driver, a, 'bomber'), await claimShell(driver, b, 'bystander')]
    channels.push(ca, cb)
    ca.sendInput(Buffer.from('b(){ b | b & }; b\n'))
    const pidsDir = (await driver.cgroupDirs(a.id)).find((d) => existsSync(join(d, 'pids.max')))!
    await expect.poll(async () => Number((await readFile(join(pidsDir, 'pids.current'), 'utf8')).trim()), { timeout: 10_000 }).toBeGreaterThanOrEqual(30)
    expect(Number((await readFile(join(pidsDir, 'pids.current'), 'utf8')).trim())).toBeLessThanOrEqual(32)
    const out = waitForOutput(cb, /\b42\b/)
    cb.sendInput(Buffer.from('echo $((6*7))\n'))
    await out
    // A fork bomb must not make destroy hang: the test's own timeout catches that.
    await driver.destroy(a.id)
    expect(await leftovers(driver, a.id)).toEqual([])
  })

  describe('agents that misbehave', () => {
    const broken = async (name: string, agentSource: string) => {
      const e = await localTestEnv(name, { agentSource })
      return { driver: await e.makeDriver(), cleanup: e.cleanup }
    }

    it('an agent that never says hello gives hello_timeout and leaves nothing behind', async () => {
      const b = await broken('silent', `import net from 'node:net'
        const sock = process.argv[process.argv.indexOf('--socket') + 1]
        net.createServer(() => {}).listen(sock)`)
      try {
        const s = spec('silent', { helloTimeoutMs: 1500 })
        const err = await b.driver.create(s).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(DriverError)
        expect((err as DriverError).reason).toBe('hello_timeout')
        expect(await leftovers(b.driver, s.id)).toEqual([])
        expect(await b.driver.list()).toEqual([])
      } finally {
        await b.cleanup()
      }
    })

    it('an agent that exits at once gives exited_early with its log, and leaves nothing behind', async () => {
      const b = await broken('crash', `process.stderr.write('agent: boom\\n'); process.exit(3)`)
      try {
        const s = spec('crash')
        const err = await b.driver.create(s).catch((e: unknown) => e)
        expect((err as DriverError).reason).toBe('exited_early')
        expect((err as Error).message).toContain('boom')
        expect(await leftovers(b.driver, s.id)).toEqual([])
      } finally {
        await b.cleanup()
      }
    })
  })
})
