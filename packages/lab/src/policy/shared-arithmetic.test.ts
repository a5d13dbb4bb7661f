import { readdirSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { makePool, session } from '../pool/test-fixture.ts'
import { simulate } from '../sim/model.ts'
import { parseScenario } from '../sim/scenario.ts'
import { Backoff } from './backoff.ts'
import * as budget from './create-budget.ts'
import * as observation from './observation.ts'
import * as recycle from './recycle.ts'

// The free functions are wrapped in spies wherever they are imported (the controller and the
// simulator included); the classes are spied on through their prototypes.
vi.mock('./create-budget.ts', async (original) => {
  const m = await original<typeof import('./create-budget.ts')>()
  return { ...m, planCreates: vi.fn(m.planCreates) }
})
vi.mock('./observation.ts', async (original) => {
  const m = await original<typeof import('./observation.ts')>()
  return { ...m, windowSOf: vi.fn(m.windowSOf) }
})
vi.mock('./recycle.ts', async (original) => {
  const m = await original<typeof import('./recycle.ts')>()
  return { ...m, recycleAtMs: vi.fn(m.recycleAtMs), dueForRecycle: vi.fn(m.dueForRecycle) }
})

const src = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const CONTROLLER = 'pool/controller.ts'
const SIMULATOR = 'sim/model.ts'
/** Each piece of the controller's arithmetic, the one file it lives in, and what it exports. */
const SHARED = {
  'observation (claim rate, mean start)': 'policy/observation.ts',
  'create budget (maxCreatesPerMin)': 'policy/create-budget.ts',
  'back-off after failed creates': 'policy/backoff.ts',
  'maxWarmAgeS recycling': 'policy/recycle.ts',
} as const

/** The files a source file imports, as paths under src/ (static `from '…'` clauses). */
function importsOf(file: string): Set<string> {
  const text = readFileSync(resolve(src, file), 'utf8')
  const out = new Set<string>()
  for (const m of text.matchAll(/^import\s[^'"]*from\s+'([^']+)'/gm)) {
    if (m[1]!.startsWith('.')) out.add(resolve(dirname(resolve(src, file)), m[1]!).slice(src.length + 1))
  }
  return out
}

describe('the controller and the simulator share one copy of the pool arithmetic', () => {
  for (const [piece, file] of Object.entries(SHARED)) {
    it(`${piece}: both import ${file}`, () => {
      expect(importsOf(CONTROLLER)).toContain(file)
      expect(importsOf(SIMULATOR)).toContain(file)
    })
  }

  it('no source file of pool/ or sim/ declares its own copy under the same name', () => {
    const names = ['ClaimRate', 'TokenBucket', 'Backoff', 'planCreates', 'recycleAtMs', 'dueForRecycle', 'windowSOf', 'claimHistoryFor', 'ClaimHistory']
    const declares = new RegExp(`(class|function|const|let)\\s+(${names.join('|')})\\b`)
    for (const dir of ['pool', 'sim']) {
      for (const file of readdirSync(resolve(src, dir), { recursive: true, encoding: 'utf8' })) {
        if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue
        expect(readFileSync(resolve(src, dir, file), 'utf8'), `${dir}/${file}`).not.toMatch(declares)
      }
    }
  })

  describe('and both call it at run time', () => {
    const spies = () => ({
      'ClaimRate.recordClaim': vi.spyOn(observation.ClaimRate.prototype, 'recordClaim'),
      'ClaimRate.ratePerS': vi.spyOn(observation.ClaimRate.prototype, 'ratePerS'),
      'ClaimRate.recordStart': vi.spyOn(observation.ClaimRate.prototype, 'recordStart'),
      'ClaimRate.meanStartS': vi.spyOn(observation.ClaimRate.prototype, 'meanStartS'),
      windowSOf: vi.mocked(observation.windowSOf),
      planCreates: vi.mocked(budget.planCreates),
      'TokenBucket.take': vi.spyOn(budget.TokenBucket.prototype, 'take'),
      'Backoff.failure': vi.spyOn(Backoff.prototype, 'failure'),
      'Backoff.success': vi.spyOn(Backoff.prototype, 'success'),
      recycleAtMs: vi.mocked(recycle.recycleAtMs),
      dueForRecycle: vi.mocked(recycle.dueForRecycle),
    })
    let s: ReturnType<typeof spies>
    beforeEach(() => {
      s = spies()
      for (const spy of Object.values(s)) spy.mockClear()
    })
    afterEach(() => {
      vi.restoreAllMocks()
    })
    const uncalled = () => Object.entries(s).filter(([, spy]) => spy.mock.calls.length === 0).map(([name]) => name)

    it('the controller, through a failed create, a budget and a recycle', async () => {
      const pool = makePool({ policy: { kind: 'fixed', size: 2 }, maxCreatesPerMin: 60, maxWarmAgeS: 5 }, { failCreates: true })
      try {
        await pool.controller.reconcile()
        await pool.controller.settled()
        pool.driver.set({ failCreates: false })
        pool.clock.advance(60_000)
        await pool.converge()
        pool.controller.recordClaim(pool.clock.now())
        await pool.store.claimWarm('alpha', session('s-1'), pool.clock.now())
        pool.clock.advance(5_000)
        await pool.converge()
      } finally {
        await pool.close()
      }
      expect(uncalled()).toEqual([])
    })

    it('the simulator, with create failures, a budget and recycling', () => {
      const p = parseScenario({
        durationS: 3600, seed: 1,
        arrivals: { kind: 'poisson', ratePerS: 0.5 },
        sessionS: { kind: 'exponential', meanS: 60 },
        sandbox: { startS: { kind: 'constant', valueS: 5 } },
        policy: { kind: 'fixed', size: 5 },
        pool: { maxCreatesPerMin: 30, maxWarmAgeS: 120, createFailureRate: 0.1 },
      })
      if (!p.ok) throw new Error(p.errors.join('\n'))
      simulate(p.scenario)
      expect(uncalled()).toEqual([])
    })
  })
})
