import { randomBytes } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { SandboxLimits } from '../spec/pool-spec.ts'
import type { AgentChannel } from './channel.ts'
import type { SandboxDriver, SandboxSpec } from './types.ts'

export interface DriverContractOptions {
  /** Per-create hello timeout (default 15 s: real sandboxes on a busy CI host). */
  helloTimeoutMs?: number
  limits?: SandboxLimits
  /** User whose workspace the claim test binds (default `contract-user`). */
  user?: string
  /** Called after each test with the driver it used. */
  cleanup?: (driver: SandboxDriver) => Promise<void>
}

/** Resolves with everything the shell printed once `pattern` appears in it. */
export function waitForOutput(channel: AgentChannel, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => done(new Error(`no ${pattern} in shell output within ${timeoutMs} ms: ${JSON.stringify(seen.slice(-500))}`)), timeoutMs)
    const onOutput = (b: Buffer) => {
      seen += b.toString('utf8')
      if (pattern.test(seen)) done()
    }
    const onClose = () => done(new Error(`channel closed before ${pattern}: ${JSON.stringify(seen.slice(-500))}`))
    const done = (err?: Error) => {
      clearTimeout(timer)
      channel.off('output', onOutput)
      channel.off('close', onClose)
      if (err) reject(err)
      else resolve(seen)
    }
    channel.on('output', onOutput)
    channel.on('close', onClose)
  })
}

/**
 * The behaviour every SandboxDriver must have. Call it from the driver's test file:
 * `runDriverContract('local', async () => { const d = new LocalDriver(...); await d.init(); return d })`.
 * Every sandbox a test creates is destroyed after it, also when it fails.
 */
export function runDriverContract(name: string, makeDriver: () => Promise<SandboxDriver>, opts: DriverContractOptions = {}): void {
  const limits = opts.limits ?? { pids: 128, memoryMb: 256, cpus: 1 }
  const helloTimeoutMs = opts.helloTimeoutMs ?? 15_000
  const user = opts.user ?? 'contract-user'

  describe(`SandboxDriver contract: ${name}`, () => {
    let driver: SandboxDriver
    let created: string[]
    const channels: AgentChannel[] = []
    const spec = (): SandboxSpec => {
      const id = `ct-${randomBytes(4).toString('hex')}`
      created.push(id)
      return { id, pool: 'contract', limits, network: false, helloTimeoutMs }
    }
    const connect: SandboxDriver['connect'] = async (h) => {
      const c = await driver.connect(h)
      channels.push(c)
      return c
    }

    beforeEach(async () => {
      created = []
      driver = await makeDriver()
    })
    afterEach(async () => {
      for (const c of channels.splice(0)) c.close()
      for (const id of created) await driver.destroy(id)
      await opts.cleanup?.(driver)
    })

    it('create resolves once the agent said hello, and list() contains the sandbox', async () => {
      const s = spec()
      const h = await driver.create(s)
      expect(h.id).toBe(s.id)
      expect(h.pool).toBe('contract')
      expect(h.driver).toBe(driver.name)
      expect(h.startMs).toBeGreaterThanOrEqual(0)
      expect((await driver.list()).map((x) => x.id)).toContain(s.id)
    })

    it('connect gives a channel whose hello names the sandbox', async () => {
      const h = await driver.create(spec())
      const c = await connect(h)
      expect(c.hello.sandboxId).toBe(h.id)
      expect(c.hello.state).toBe('warm')
    })

    it('two concurrent creates give two distinct working sandboxes', async () => {
      const [a, b] = await Promise.all([driver.create(spec()), driver.create(spec())])
      expect(a.id).not.toBe(b.id)
      expect(a.address).not.toEqual(b.address)
      const [ca, cb] = await Promise.all([connect(a), connect(b)])
      expect(ca.hello.sandboxId).toBe(a.id)
      expect(cb.hello.sandboxId).toBe(b.id)
    })

    it('bindWorkspace and a claim give a ready shell that runs commands', async () => {
      const h = await driver.create(spec())
      const binding = await driver.bindWorkspace(h, user)
      const c = await connect(h)
      const ready = await c.claim({ sessionId: `s-${h.id}`, user, home: binding.home, env: { GREETING: 'hi' }, secrets: {}, cols: 80, rows: 24 }, 10_000)
      expect(ready.sessionId).toBe(`s-${h.id}`)
      const out = waitForOutput(c, /\b42\b/)
      c.sendInput(Buffer.from('echo $((6*7))\n'))
      await out
    })

    it('destroy removes the sandbox from list()', async () => {
      const h = await driver.create(spec())
      await driver.destroy(h.id)
      expect((await driver.list()).map((x) => x.id)).not.toContain(h.id)
    })

    it('destroy is idempotent and ignores unknown ids', async () => {
      const h = await driver.create(spec())
      await driver.destroy(h.id)
      await expect(driver.destroy(h.id)).resolves.toBeUndefined()
      await expect(driver.destroy('never-created-0')).resolves.toBeUndefined()
    })

    it('a new driver instance lists the sandboxes the previous one created (they outlive the gateway)', async () => {
      const h = await driver.create(spec())
      const again = await makeDriver()
      const listed = await again.list()
      const found = listed.find((x) => x.id === h.id)
      expect(found).toBeDefined()
      expect(found!.address).toEqual(h.address)
      const c = await again.connect(found!)
      channels.push(c)
      expect(c.hello.sandboxId).toBe(h.id)
    })
  })
}
