import { afterEach, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { CountingDriver, churn, hostSampleViolation, sampleHost, sampleWhile } from './pool-host.test-util.ts'
import { auth, startTestGateway, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

describe('GET /v1/pools counts every sandbox the pool owns (fake driver)', () => {
  let gw: Gw | undefined
  afterEach(async () => {
    await gw?.cleanup()
    gw = undefined
  })

  it('documents every state in the view and in lab_pool_sandboxes, and they add up at rest', async () => {
    const driver = new CountingDriver(new FakeDriver())
    gw = await startTestGateway(driver, { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 4 }] })
    await waitFor(async () => (await sampleHost(gw!, driver, 'default')).view.ready === 2, 5000, 'pool to fill')
    const s = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: { user: 'ada' } })
    expect(s.statusCode).toBe(201)
    await waitFor(async () => (await sampleHost(gw!, driver, 'default')).view.ready === 2, 5000, 'refill')
    const sample = await sampleHost(gw, driver, 'default')
    expect(sample.view).toMatchObject({ ready: 2, starting: 0, coldStarting: 0, claimed: 1, destroying: 0, total: 3 })
    expect(sample.host).toBe(3)
    const metrics = (await gw.app.inject('/metrics')).body
    for (const [state, n] of [['ready', 2], ['starting', 0], ['cold_starting', 0], ['claimed', 1], ['destroying', 0]] as const) {
      expect(metrics).toContain(`lab_pool_sandboxes{pool="default",state="${state}",replica="${gw.replicaId}"} ${n}`)
    }
  })

  it('never counts fewer than the driver lists, nor more ready and claimed than it runs, under concurrent claims', async () => {
    const driver = new CountingDriver(new FakeDriver({ startDelayMs: 15 }))
    gw = await startTestGateway(driver, { pools: [{ name: 'default', policy: { kind: 'fixed', size: 3 }, maxSize: 8 }] })
    // 6 clients holding their session 10 ms against 3 warm: warm claims, refills and cold starts
    const { result: answers, samples } = await sampleWhile(gw, driver, 'default', churn(gw, 6, 300, 10))
    expect(samples.length).toBeGreaterThan(100)
    expect(samples.map(hostSampleViolation).filter((v) => v !== undefined)).toEqual([])
    // the load did reach every state the view has, and made cold starts
    expect(samples.some((s) => s.view.starting > 0)).toBe(true)
    expect(samples.some((s) => s.view.coldStarting > 0)).toBe(true)
    expect(samples.some((s) => s.view.claimed > 0)).toBe(true)
    expect(answers.get(201)).toBeGreaterThan(0)
    // at rest, the pool and the host agree exactly
    await waitFor(async () => {
      const s = await sampleHost(gw!, driver, 'default')
      return s.view.total === s.host && s.view.ready === 3 && s.view.total === 3
    }, 10_000, 'the pool to settle')
  }, 60_000)
})
