import { PassThrough } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../clock/manual-clock.ts'
import { FakeDriver } from '../../drivers/fake/fake-driver.ts'
import { TEST_KEY, startTestGateway, waitFor } from '../../gateway/test-gateway.test-util.ts'
import { shellCommand, type TerminalIo } from './shell.ts'

describe('infra-lab shell (fake driver, manual clock)', () => {
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  let clock: ManualClock

  beforeEach(async () => {
    clock = new ManualClock(Date.parse('2027-01-04T09:00:00Z'))
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 }, maxSize: 2, maxLifetimeS: 120 }] }, { clock })
  })
  afterEach(async () => {
    await gw.cleanup()
  })

  it('prints a line when a timeout is a minute away, then why the session ended', async () => {
    let err = ''
    const stderr = new PassThrough().on('data', (d: Buffer) => { err += d.toString('utf8') })
    const io = {
      cwd: process.cwd(), env: {}, stdout: new PassThrough(), stderr,
      stdin: new PassThrough() as unknown as NodeJS.ReadStream, stdoutTty: new PassThrough() as unknown as NodeJS.WriteStream,
    } satisfies TerminalIo
    const exit = shellCommand({ url: gw.url, key: TEST_KEY, user: 'ada' }, io)
    await waitFor(async () => (await gw.store.listSessions({ state: 'running' })).length === 1, 5000, 'the session')
    const id = (await gw.store.listSessions())[0]!.id
    // an attached viewer makes "now" the session's last activity
    await waitFor(() => {
      clock.advance(1)
      return gw.sessions.lastActivityMs(id) === clock.now()
    }, 5000, 'the terminal to attach')
    clock.advance(60_000)
    await gw.sessions.sweep()
    await waitFor(() => err.includes('ends in'), 5000, 'the notice')
    expect(err).toContain(`\r\ninfra-lab shell: session ${id} ends in 60 s (max_lifetime)\r\n`)
    clock.advance(60_000)
    await gw.sessions.sweep()
    expect(await exit).toBe(255)
    expect(err).toContain(`session ${id} ended: max_lifetime`)
  })
})
