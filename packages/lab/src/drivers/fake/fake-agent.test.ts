import { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import type { AgentMessage } from '@infra-lab/protocol'
import { DriverError } from '../types.ts'
import { FakeDriver } from './fake-driver.ts'

const spec = (id: string, helloTimeoutMs = 2000) => ({
  id, pool: 'alpha', limits: { pids: 256, memoryMb: 512, cpus: 1 }, network: false, helloTimeoutMs,
})

describe('FakeDriver', () => {
  let driver: FakeDriver
  afterEach(async () => {
    await driver.teardown()
  })

  it('creates a sandbox whose agent says hello on every connection and lists it', async () => {
    driver = new FakeDriver()
    const h = await driver.create(spec('sb-1'))
    expect(h).toMatchObject({ id: 'sb-1', pool: 'alpha', driver: 'fake', address: { kind: 'unix' } })
    expect((await driver.list()).map((x) => x.id)).toEqual(['sb-1'])
    const a = await driver.connect(h)
    const b = await driver.connect(h)
    expect(a.hello).toMatchObject({ type: 'hello', sandboxId: 'sb-1', state: 'warm' })
    expect(b.hello.sandboxId).toBe('sb-1')
    a.close()
    b.close()
  })

  it('fails every operation with internal (it runs no commands or files), and the channel stays open', async () => {
    driver = new FakeDriver()
    const ch = await driver.connect(await driver.create(spec('sb-1')))
    await expect(ch.ops.exec({ cmd: 'true', env: {}, timeoutMs: 1000, background: false, tty: false })).rejects.toMatchObject({ code: 'internal' })
    await expect(ch.ops.writeFile('f', Readable.from([Buffer.from('x')]), 10)).rejects.toMatchObject({ code: 'internal' })
    await expect(ch.ops.listProcesses()).rejects.toMatchObject({ code: 'internal' })
    expect(ch.isClosed).toBe(false)
    ch.close()
  })

  it('answers a claim with ready, echoes input, keeps scrollback, pongs, and exits on terminate', async () => {
    driver = new FakeDriver()
    const ch = await driver.connect(await driver.create(spec('sb-1')))
    const ready = await ch.claim({ sessionId: 's-1', user: 'ada', home: '/home/ada', env: { A: '1' }, secrets: { TOKEN: 'x' } }, 2000)
    expect(ready).toEqual({ type: 'ready', sessionId: 's-1', applyMs: 0.1 })
    expect(driver.agent('sb-1')?.env).toEqual({ A: '1', TOKEN: 'x' })
    const out: Buffer[] = []
    ch.on('output', (b) => out.push(Buffer.from(b)))
    ch.sendInput(Buffer.from('echo $((6*7))\n'))
    expect((await ch.snapshot()).toString()).toBe('echo $((6*7))\n42\r\n')
    expect(Buffer.concat(out).toString()).toBe('echo $((6*7))\n42\r\n')
    const msgs: AgentMessage[] = []
    ch.on('message', (m) => msgs.push(m))
    ch.send({ type: 'resize', cols: 100, rows: 30 })
    ch.send({ type: 'ping', id: 7 })
    ch.send({ type: 'terminate' })
    await expect.poll(() => msgs.length).toBe(2)
    expect(msgs).toEqual([{ type: 'pong', id: 7 }, { type: 'exit', code: null, signal: null, reason: 'terminated' }])
    expect(driver.agent('sb-1')?.size).toEqual({ cols: 100, rows: 30 })
    ch.close()
  })

  it('refuses a second claim', async () => {
    driver = new FakeDriver()
    const ch = await driver.connect(await driver.create(spec('sb-1')))
    await ch.claim({ sessionId: 's-1', user: 'ada', home: '/home/ada', env: {}, secrets: {} }, 2000)
    await expect(ch.claim({ sessionId: 's-2', user: 'bob', home: '/home/bob', env: {}, secrets: {} }, 2000)).rejects.toThrow(/already_claimed/)
    ch.close()
  })

  it('fails creates on demand, counting attempts', async () => {
    driver = new FakeDriver({ failCreates: (n) => n === 2 })
    await driver.create(spec('sb-1'))
    await expect(driver.create(spec('sb-2'))).rejects.toMatchObject({ name: 'DriverError', reason: 'create_failed' })
    await driver.create(spec('sb-3'))
    expect(driver.createCalls).toBe(3)
    expect((await driver.list()).map((h) => h.id)).toEqual(['sb-1', 'sb-3'])
  })

  it('fails with hello_timeout and leaves nothing behind when the agent never says hello', async () => {
    driver = new FakeDriver({ neverHello: true })
    const err = await driver.create(spec('sb-1', 100)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DriverError)
    expect((err as DriverError).reason).toBe('hello_timeout')
    expect(await driver.list()).toEqual([])
  })

  it('kill drops open channels and the sandbox disappears from list; destroy is idempotent', async () => {
    driver = new FakeDriver()
    const h = await driver.create(spec('sb-1'))
    const ch = await driver.connect(h)
    const closed = new Promise((r) => ch.once('close', r))
    await driver.kill('sb-1')
    await closed
    expect(ch.isClosed).toBe(true)
    expect(await driver.list()).toEqual([])
    await expect(driver.connect(h)).rejects.toMatchObject({ reason: 'unavailable' })
    await driver.destroy('sb-1')
    await driver.destroy('sb-1')
    expect(driver.destroyed).toEqual([])
  })
})
