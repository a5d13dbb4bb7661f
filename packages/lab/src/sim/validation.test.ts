import { describe, expect, it } from 'vitest'
import { erlangB, erlangServers } from '../policy/index.ts'
import { simulate } from './model.ts'
import { parseScenario, type ScenarioInput } from './scenario.ts'

function run(input: ScenarioInput) {
  const p = parseScenario(input)
  if (!p.ok) throw new Error(p.errors.join('\n'))
  return simulate(p.scenario)
}

/** Mean and 95% half-width (Student t, 10 replications: 2.262) over independent seeds. */
function replicate(seeds: number[], f: (seed: number) => number): { mean: number; half: number } {
  const xs = seeds.map(f)
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1))
  return { mean, half: (2.262 * sd) / Math.sqrt(xs.length) }
}
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]

describe('a warm pool with refill is an M/G/N/N loss system (Erlang B)', () => {
  const cases = [
    { n: 5, ratePerS: 1, startS: { kind: 'constant', valueS: 3 } },
    { n: 10, ratePerS: 1, startS: { kind: 'constant', valueS: 8 } },
    { n: 3, ratePerS: 0.5, startS: { kind: 'exponential', meanS: 2 } },
    { n: 12, ratePerS: 2, startS: { kind: 'exponential', meanS: 5 } },
  ] as const
  for (const c of cases) {
    const meanB = 'valueS' in c.startS ? c.startS.valueS : c.startS.meanS
    const expected = erlangB(c.n, c.ratePerS * meanB)
    it(`N=${c.n}, λ·E[B]=${c.ratePerS * meanB} (${c.startS.kind} B): miss rate ${expected.toFixed(4)} within the 95% CI`, () => {
      const ci = replicate(SEEDS, (seed) => {
        const r = run({
          durationS: 20_000 / c.ratePerS, warmupS: 200, seed,
          arrivals: { kind: 'poisson', ratePerS: c.ratePerS },
          sessionS: { kind: 'exponential', meanS: 600 },
          sandbox: { startS: c.startS },
          policy: { kind: 'fixed', size: c.n },
          pool: { coldClaims: 'own' },
        })
        return r.coldStarts / r.sessions
      })
      expect(ci.half).toBeLessThan(0.2 * expected + 0.005) // the CI is tight enough to mean something
      expect(Math.abs(ci.mean - expected)).toBeLessThanOrEqual(ci.half)
    })
  }
})

describe('an M/M/c queue built from the same engine (hosts with c slots, no pool) matches Erlang C', () => {
  const c = 4, lambda = 3, mu = 1
  const a = lambda / mu
  const b = erlangB(c, a)
  const pWait = (c * b) / (c - a * (1 - b))
  const meanWait = pWait / (c * mu - lambda)
  const results = SEEDS.map((seed) => run({
    durationS: 15_000, warmupS: 100, seed,
    arrivals: { kind: 'poisson', ratePerS: lambda },
    sessionS: { kind: 'exponential', meanS: 1 / mu },
    sandbox: { startS: { kind: 'constant', valueS: 0 } },
    policy: { kind: 'fixed', size: 0 },
    hosts: { slots: c, minRunning: 1, maxHosts: 1 },
  }))

  it(`P(wait) = ${pWait.toFixed(4)} within the 95% CI`, () => {
    const ci = replicate(SEEDS, (_, i = SEEDS.indexOf(_)) => results[i]!.wait.waitedShare)
    expect(ci.half).toBeLessThan(0.05)
    expect(Math.abs(ci.mean - pWait)).toBeLessThanOrEqual(ci.half)
  })

  it(`mean wait ${meanWait.toFixed(4)} s within the 95% CI`, () => {
    const ci = replicate(SEEDS, (_, i = SEEDS.indexOf(_)) => results[i]!.wait.meanS)
    expect(ci.half).toBeLessThan(0.15 * meanWait)
    expect(Math.abs(ci.mean - meanWait)).toBeLessThanOrEqual(ci.half)
  })
})

describe('the erlang policy in the simulator', () => {
  it('settles at the analytic N at a steady rate (1/s × 10 s at 1% -> 18)', () => {
    const r = run({
      durationS: 4 * 3600, warmupS: 3600, seed: 3,
      arrivals: { kind: 'poisson', ratePerS: 1 },
      sessionS: { kind: 'exponential', meanS: 300 },
      sandbox: { startS: { kind: 'constant', valueS: 10 } },
      policy: { kind: 'erlang', targetMissRate: 0.01, windowS: 3600 },
    })
    expect(erlangServers(10, 0.01, 1000)).toBe(18)
    expect(r.pool.modeTarget).toBe(18)
    expect(r.pool.modeTargetShare).toBeGreaterThan(0.8)
    expect(r.coldStarts / r.sessions).toBeLessThan(0.02)
  })
})

describe('determinism', () => {
  const scenario: ScenarioInput = {
    durationS: 2 * 86_400, seed: 42,
    arrivals: { kind: 'diurnal', peakRatePerS: 0.5, troughRatePerS: 0.05 },
    sessionS: { kind: 'lognormal', meanS: 900, sigma: 1 },
    sandbox: { startS: { kind: 'exponential', meanS: 8 } },
    policy: { kind: 'predictive', targetMissRate: 0.02 },
    hosts: { slots: 8, spotFraction: 0.5, interruptionsPerHour: 0.05, azs: 3, warmPool: { size: 2 } },
    azOutage: { az: 1, atS: 100_000, durationS: 3600 },
  }
  const strip = (r: ReturnType<typeof run>) => JSON.stringify({ ...r, perf: undefined })

  it('same scenario and seed: the same output bit for bit (outside perf)', () => {
    const a = run(scenario), b = run(scenario)
    expect(a.sessions).toBeGreaterThan(10_000)
    expect(a.interruptions.hostInterruptions + a.interruptions.azHostsLost).toBeGreaterThan(0)
    expect(strip(a)).toBe(strip(b))
  })

  it('another seed: other numbers', () => {
    expect(strip(run({ ...scenario, seed: 43 }))).not.toBe(strip(run(scenario)))
  })
})
