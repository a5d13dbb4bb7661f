// Integration: the pool's counts against the local driver's own list(), under concurrent claims.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalDriver } from '../src/drivers/local/local-driver.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { CountingDriver, churn, hostSampleViolation, sampleHost, sampleWhile } from '../src/gateway/pool-host.test-util.ts'
import { startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'

const skip = localDriverSkipReason()

describe.skipIf(skip !== undefined)('pool counts against the local driver', () => {
  let env: Awaited<ReturnType<typeof localTestEnv>>
  let driver: CountingDriver
  let gw: Awaited<ReturnType<typeof startTestGateway>> | undefined

  beforeAll(async () => {
    env = await localTestEnv('pool-counts')
    driver = new CountingDriver(new LocalDriver(env.options))
    gw = await startTestGateway(driver, { pools: [{ name: 'default', policy: { kind: 'fixed', size: 3 }, maxSize: 8 }] })
  }, 60_000)
  afterAll(async () => {
    await gw?.cleanup()
    await env?.cleanup()
  }, 120_000)

  it('never counts fewer sandboxes than the driver lists, nor more ready and claimed than it runs; equal at rest', async () => {
    await waitFor(async () => (await sampleHost(gw!, driver, 'default')).view.ready === 3, 60_000, 'the pool to fill')
    // 6 clients holding their session 50 ms against 3 warm: warm claims, refills, cold starts, destroys
    const { result: answers, samples } = await sampleWhile(gw!, driver, 'default', churn(gw!, 6, 90, 50))
    expect(samples.map(hostSampleViolation).filter((v) => v !== undefined)).toEqual([])
    expect(samples.length).toBeGreaterThan(50)
    expect(answers.get(201)).toBeGreaterThan(0)
    for (const state of ['starting', 'coldStarting', 'claimed', 'destroying'] as const) {
      expect(samples.some((s) => s.view[state] > 0), `a sample with ${state} > 0`).toBe(true)
    }
    // at rest: every sandbox the pool owns runs, and nothing else does
    await waitFor(async () => {
      const s = await sampleHost(gw!, driver, 'default')
      return s.view.total === s.host && s.view.ready === 3 && s.view.total === 3
    }, 60_000, 'the pool and the host to agree at rest')
  }, 300_000)
})
