import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'
import { auth, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { DaemonSwitch } from './docker-switch.test-util.ts'

const skip = await dockerSkipReason()

describe.skipIf(skip !== undefined)(`gateway on the docker driver when the daemon stops${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof dockerTestEnv>>
  let sw: DaemonSwitch
  let gw: Awaited<ReturnType<typeof startTestGateway>>

  beforeAll(async () => {
    env = await dockerTestEnv('gateway')
    sw = new DaemonSwitch(join(env.options.dataDir, '..', 'docker.sock'))
    await sw.up()
    const driver = await env.makeDriver({ dockerSocket: sw.path })
    gw = await startTestGateway(driver, { pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 4, claimTimeoutMs: 3000 }] })
  })
  afterAll(async () => {
    await sw?.up()
    await gw?.cleanup()
    await sw?.down()
    await env?.cleanup()
  })

  const post = (user: string) => gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: { user } })
  const status = () => gw.pools.get('default')!.controller.status()

  it('answers 503 with Retry-After while the daemon is down, and recovers by itself', async () => {
    await waitFor(() => status().ready >= 1, 30_000, 'a warm container')
    expect((await post('alice')).statusCode).toBe(201) // takes the warm one; the refill starts

    await sw.down()
    await waitFor(() => status().lastError !== undefined && status().starting === 0, 30_000, 'the refill to fail')
    const refused = await post('bob')
    expect(refused.statusCode).toBe(503)
    expect(refused.json().error.code).toBe('pool_unavailable')
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    expect((await gw.app.inject('/healthz')).statusCode).toBe(200)

    await sw.up()
    await waitFor(() => status().ready >= 1, 60_000, 'the pool to refill once the daemon answers')
    expect((await post('carol')).statusCode).toBe(201)
  }, 120_000)
})
