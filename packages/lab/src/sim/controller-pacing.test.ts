import { describe, expect, it } from 'vitest'
import { simulate } from './model.ts'
import { parseScenario, type ScenarioInput } from './scenario.ts'

function run(input: ScenarioInput) {
  const p = parseScenario(input)
  if (!p.ok) throw new Error(p.errors.join('\n'))
  return simulate(p.scenario)
}

const base: ScenarioInput = {
  durationS: 6 * 3600, warmupS: 600, seed: 7,
  arrivals: { kind: 'poisson', ratePerS: 1 },
  sessionS: { kind: 'exponential', meanS: 120 },
  sandbox: { startS: { kind: 'constant', valueS: 5 } },
  policy: { kind: 'fixed', size: 15 },
}

describe('the simulated pool paces creates as the controller does', () => {
  describe('create failures (createFailureRate)', () => {
    it('fails about rate x creates, and the pool still converges to its target', () => {
      const ok = run(base)
      const r = run({ ...base, pool: { createFailureRate: 0.2 } })
      const done = r.creates.ok + r.creates.failed
      expect(done).toBeGreaterThan(15_000)
      expect(r.creates.failed / done).toBeCloseTo(0.2, 1) // ±0.05; the sd at this n is 0.003
      expect(Math.abs(r.creates.failed / done - 0.2)).toBeLessThan(0.015)
      expect(r.pool.meanReady).toBeGreaterThan(0.8 * ok.pool.meanReady) // refills keep up despite failures
      expect(r.warmHitRate).toBeGreaterThan(0.95)
      expect(r.creates.claimsFailed).toBeGreaterThan(0) // a claim waiting on a failed cold create fails
      expect(r.creates.claimsFailed).toBeLessThanOrEqual(r.coldStarts)
      expect(ok.creates).toEqual({ ok: ok.creates.ok, failed: 0, recycled: 0, claimsFailed: 0 })
    })

    it('a broken image (every create fails) is not a runaway loop: the back-off bounds warm creates', () => {
      const r = run({ ...base, arrivals: { kind: 'poisson', ratePerS: 0 }, durationS: 3600, warmupS: 0, pool: { maxConcurrentCreates: 2, createFailureRate: 1 } })
      expect(r.creates.ok).toBe(0)
      // Without back-off: 2 creates every 5 s (1440). With it: waits grow to 30-60 s.
      expect(r.creates.failed).toBeGreaterThan(100)
      expect(r.creates.failed).toBeLessThan(2 * (3600 / 35) + 20)
    })
  })

  describe('the create budget (maxCreatesPerMin)', () => {
    it('throttles the refill: a tight budget lowers the warm-hit rate under the same seed', () => {
      const unlimited = run(base)
      const tight = run({ ...base, pool: { maxCreatesPerMin: 20 } })
      expect(unlimited.warmHitRate).toBeGreaterThan(0.95)
      expect(tight.warmHitRate).toBeLessThan(0.5) // 60 claims a minute, 20 refills
      expect(tight.sessions).toBe(unlimited.sessions) // the same arrivals
      // Warm hits are refills, and refills come from the budget (plus the bucket's first 20).
      expect(tight.warmHits).toBeLessThanOrEqual((20 * (6 * 3600 - 600)) / 60 + 20 + 15)
    })

    it('a budget above the refill rate changes nothing', () => {
      const unlimited = run(base)
      const loose = run({ ...base, pool: { maxCreatesPerMin: 10_000 } })
      expect(loose.warmHits).toBe(unlimited.warmHits)
    })
  })

  describe('recycling (maxWarmAgeS)', () => {
    const idle: ScenarioInput = {
      ...base, durationS: 3590, warmupS: 0,
      arrivals: { kind: 'poisson', ratePerS: 0 },
      sandbox: { startS: { kind: 'constant', valueS: 10 } },
      policy: { kind: 'fixed', size: 5 },
    }

    it('is off by default', () => {
      expect(run(idle).creates).toEqual({ ok: 5, failed: 0, recycled: 0, claimsFailed: 0 })
    })

    it('replaces sandboxes the moment they are maxWarmAgeS old, not at the next resync', () => {
      // Created at 0, 1190, 2380: replaced at 1190, 2380, 3570 (< 3590). Replaced at 60 s resyncs
      // instead (1200, 2400, 3600) the third round would fall after the end.
      const r = run({ ...idle, pool: { maxWarmAgeS: 1190, resyncS: 60 } })
      expect(r.creates).toEqual({ ok: 20, failed: 0, recycled: 15, claimsFailed: 0 })
      expect(r.pool.meanReady).toBeCloseTo(5 - (4 * 5 * 10) / 3590, 6) // each round is 10 s short
    })

    it('claims take the oldest ready sandbox (as the store does), so a pool that turns over faster than maxWarmAgeS recycles nothing', () => {
      // 40 ready at 1 claim/s: the oldest is about 40 s old when claimed. Newest-first claims
      // would leave the bottom of the pool to age out (5,571 recycles here).
      const r = run({ ...base, policy: { kind: 'fixed', size: 40 }, pool: { maxWarmAgeS: 120 } })
      expect(r.creates.recycled).toBe(0)
    })

    it('under load, with failures and a budget too, ready sandboxes are still counted right', () => {
      // 40 ready at 1 claim/s: each waits about 40 s for a claim, some longer than 45 s.
      const r = run({ ...base, policy: { kind: 'fixed', size: 40 }, pool: { maxWarmAgeS: 45, createFailureRate: 0.05, maxCreatesPerMin: 120 } })
      expect(r.creates.recycled).toBeGreaterThan(100)
      for (const k of ['ready', 'starting', 'claimed'] as const) expect(Math.min(...r.series[k])).toBeGreaterThanOrEqual(0)
      expect(Math.max(...r.series.ready)).toBeLessThanOrEqual(40)
      expect(r.warmHitRate).toBeGreaterThan(0.9)
    })
  })

  describe('scenario checks', () => {
    it.each([
      [{ createFailureRate: 1.5 }, 'pool.createFailureRate: must be from 0 to 1 (a share of creates)'],
      [{ createFailureRate: -0.1 }, 'pool.createFailureRate: must be from 0 to 1 (a share of creates)'],
      [{ createFailureRate: '0.1' }, 'pool.createFailureRate: must be a number from 0 to 1'],
      [{ maxCreatesPerMin: 0 }, 'pool.maxCreatesPerMin: '],
      [{ maxWarmAgeS: -1 }, 'pool.maxWarmAgeS: '],
    ])('%j is refused with a message naming the field', (pool, message) => {
      const p = parseScenario({ ...base, pool })
      expect(p.ok).toBe(false)
      if (!p.ok) expect(p.errors.join('\n')).toContain(message)
    })
  })
})
