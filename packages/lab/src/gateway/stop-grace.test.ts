// A client that keeps a request open cannot hold up a stop (or a restart): requests in flight get
// STOP_GRACE_MS, then their connections are cut.
import { connect } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { STOP_GRACE_MS } from './gateway.ts'
import { TEST_KEY, startTestGateway } from './test-gateway.test-util.ts'

describe('stopping the gateway', () => {
  let gw: Awaited<ReturnType<typeof startTestGateway>> | undefined
  afterAll(async () => {
    await gw?.cleanup()
  })

  it('cuts a request whose body never finishes once the grace period is over', async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 }, maxSize: 1 }] })
    const { port } = new URL(gw.url)
    const sock = connect(Number(port), '127.0.0.1')
    await new Promise<void>((r) => sock.once('connect', () => r()))
    const closed = new Promise<void>((r) => sock.once('close', () => r()))
    sock.on('error', () => undefined)
    // 1000 bytes announced, 10 sent: the request stays in flight
    sock.write(`POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"user":"a`)
    await new Promise((r) => setTimeout(r, 200))
    const t0 = Date.now()
    await gw.stop()
    const took = Date.now() - t0
    expect(took).toBeGreaterThanOrEqual(STOP_GRACE_MS - 100)
    expect(took).toBeLessThan(STOP_GRACE_MS + 5000)
    await closed
  }, 30_000)
})
