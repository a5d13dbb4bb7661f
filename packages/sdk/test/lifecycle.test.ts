import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { ManualClock } from '../../lab/src/clock/manual-clock.ts'
import { FakeDriver } from '../../lab/src/drivers/fake/fake-driver.ts'
import { TEST_KEY, startTestGateway, waitFor } from '../../lab/src/gateway/test-gateway.test-util.ts'
import { InfraLab, SessionEndedError, ValidationFailedError, type TerminalExit, type TerminalExpiring } from '../src/index.ts'

const T0 = Date.parse('2027-01-04T09:00:00Z')
const S = 1000

describe('InfraLab session timeouts on the manual clock', () => {
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  let lab: InfraLab
  let clock: ManualClock

  beforeEach(async () => {
    clock = new ManualClock(T0)
    gw = await startTestGateway(new FakeDriver(), {
      pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 }, maxSize: 4 }], maxSessionTimeoutS: 3600,
    }, { clock })
    lab = new InfraLab({ url: gw.url, apiKey: TEST_KEY, WebSocket })
  })
  afterEach(async () => {
    await gw.cleanup()
  })

  const advance = async (ms: number) => {
    clock.advance(ms)
    await gw.sessions.sweep()
  }

  it('keepalive moves the end of life, by the session or by its id, and names the limit it passes', async () => {
    const s = await lab.sessions.create({ user: 'alice', timeoutS: 300 })
    await advance(100 * S)
    const info = await s.keepalive({ timeoutS: 600 })
    expect(info.expiresAt).toBe(new Date(T0 + 700 * S).toISOString())
    expect(s.info.expiresAt).toBe(info.expiresAt)
    expect((await lab.sessions.keepalive(s.id, { timeoutS: 60 })).info.expiresAt).toBe(new Date(T0 + 160 * S).toISOString())
    expect((await s.keepalive()).expiresAt).toBe(new Date(T0 + 160 * S).toISOString())

    const tooLong = await s.keepalive({ timeoutS: 3600 }).catch((e: unknown) => e)
    expect(tooLong).toBeInstanceOf(ValidationFailedError)
    expect(tooLong).toMatchObject({ details: [{ field: 'timeoutS' }] })
    await s.end()
    await expect(s.keepalive()).rejects.toBeInstanceOf(SessionEndedError)
  })

  it("the terminal hears of the end a minute ahead, then why it ended", async () => {
    const s = await lab.sessions.create({ user: 'alice', timeoutS: 120 })
    const term = await s.terminal()
    const expiring: TerminalExpiring[] = []
    const exits: TerminalExit[] = []
    term.onExpiring((e) => expiring.push(e))
    term.onExit((e) => exits.push(e))
    await advance(60 * S)
    await waitFor(() => expiring.length === 1, 3000, 'the expiring message')
    expect(expiring).toEqual([{ reason: 'max_lifetime', inS: 60 }])
    await advance(60 * S)
    await waitFor(() => exits.length === 1, 3000, 'the exit')
    expect(exits).toEqual([{ code: null, reason: 'max_lifetime' }])
  })
})
