import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { auth, startTestGateway } from './test-gateway.test-util.ts'

/** Resolves 'stopped' when the gateway's stop completes, or 'hung' after 20 s (Node's waits are a minute and more). */
function stopWithin(stop: Promise<void>): Promise<'stopped' | 'hung'> {
  const hang = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref())
  return Promise.race([stop.then(() => 'stopped' as const), hang])
}

describe('gateway shutdown', () => {
  it('is not held up by a connection that never sent a request (Node would wait for its headers timeout, a minute)', async () => {
    const gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }] })
    const { port } = new URL(gw.url)
    const socket = connect(Number(port), '127.0.0.1')
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.on('error', () => undefined)
    expect(await stopWithin(gw.cleanup())).toBe('stopped')
    await closed
  }, 40_000)

  it('is not held up by the keep-alive connection of a request that was still running when it began', async () => {
    const gw = await startTestGateway(new FakeDriver({ startDelayMs: 1500 }), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }] })
    // a cold start: the request is in flight when the stop begins, and answered during it
    const create = fetch(`${gw.url}/v1/sessions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"user":"late"}' })
    await new Promise((r) => setTimeout(r, 300))
    const stopping = gw.cleanup()
    const res = await create
    expect(res.headers.get('connection')).toBe('close')
    await res.arrayBuffer()
    expect(await stopWithin(stopping)).toBe('stopped')
  }, 40_000)
})
