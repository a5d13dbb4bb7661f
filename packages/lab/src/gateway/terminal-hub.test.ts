import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock/manual-clock.ts'
import type { AgentChannel } from '../drivers/channel.ts'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { TerminalHub } from './terminal-hub.ts'

const spec = { id: 'sb-1', pool: 'alpha', limits: { pids: 256, memoryMb: 512, cpus: 1 }, network: false, helloTimeoutMs: 2000 }

describe("a terminal hub's last activity", () => {
  let driver: FakeDriver
  let channel: AgentChannel
  let clock: ManualClock
  let hub: TerminalHub

  beforeEach(async () => {
    driver = new FakeDriver()
    await driver.init()
    channel = await driver.connect(await driver.create(spec))
    clock = new ManualClock(1000)
    hub = new TerminalHub(channel, clock.now(), () => clock.now(), { seenAllOutput: true })
    await channel.claim({ sessionId: 'ses-a', user: 'ada', home: '/home/ada', env: {}, secrets: {} }, 2000)
  })
  afterEach(async () => {
    channel.close()
    await driver.teardown()
  })

  it('moves with terminal input, not with the output it echoes or the shell prints', async () => {
    clock.advance(5000)
    const echoed = new Promise((r) => channel.once('output', r))
    hub.input(Buffer.from('ls\r'))
    expect(hub.lastActivityMs).toBe(6000)
    clock.advance(5000)
    await echoed
    driver.agent('sb-1')!.print('more output\r\n')
    await new Promise((r) => channel.once('output', r))
    expect(hub.lastActivityMs).toBe(6000)
    hub.touch()
    expect(hub.lastActivityMs).toBe(11_000)
  })
})
