import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { startTestGateway } from './test-gateway.test-util.ts'

describe('gateway shutdown', () => {
  it('is not held up by a connection that never sent a request (Node would wait for its headers timeout, a minute)', async () => {
    const gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }] })
    const { port } = new URL(gw.url)
    const socket = connect(Number(port), '127.0.0.1')
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.on('error', () => undefined)
    const stopped = gw.cleanup().then(() => 'stopped' as const)
    const hang = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref())
    expect(await Promise.race([stopped, hang])).toBe('stopped')
    await closed
  }, 40_000)
})
