import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { compare, halfWidth95, type Side } from './fidelity-compare.ts'
import { fidelityCommand } from './fidelity-command.ts'
import { cellTrace, fidelityPlan, makeTrace, measuredArrivals, plannedS } from './fidelity.ts'

function io(cwd: string) {
  const out = new PassThrough(), err = new PassThrough()
  let stdout = '', stderr = ''
  out.on('data', (d) => { stdout += String(d) })
  err.on('data', (d) => { stderr += String(d) })
  return { io: { cwd, env: process.env, stdout: out, stderr: err }, get stdout() { return stdout }, get stderr() { return stderr } }
}

const side = (claims: [number, boolean, number][], alive: number, failedAtS: number[] = []): Side => ({
  claims: claims.map(([tS, warm, waitS]) => ({ tS, warm, waitS })), failedAtS, tS: [0], alive: [alive],
})

describe('fidelity comparison', () => {
  it('takes differences over the whole run and intervals over blocks of arrivals', () => {
    const measured = side([[0, true, 0.001], [1, false, 1], [2, true, 0.001], [3, false, 2]], 2)
    const predicted = side([[0, true, 0.001], [1, true, 0.001], [2, true, 0.001], [3, false, 2.4]], 3)
    const c = compare(measured, [predicted], { fromS: 0, toS: 4 }, 2)
    expect(c.warmHitPp.value).toBeCloseTo(25, 9) // 75 % predicted, 50 % measured
    expect(c.warmHitPp.halfWidth).toBeCloseTo(12.706 * 25, 6) // blocks: +50 and +0 points, sd 25·√2
    expect(c.coldP95Pct!.value).toBeCloseTo(20, 9) // 2.4 s against 2 s
    expect(c.coldP95Pct!.halfWidth).toBeUndefined() // only the second block has cold claims on both sides
    expect(c.sandboxSPct.value).toBeCloseTo(50, 9)
  })

  it('leaves the claims before the window out (the history replayed first)', () => {
    const measured = side([[0, false, 9], [1, true, 0.001], [2, false, 1], [3, true, 0.001]], 2)
    const predicted = side([[0, true, 0.001], [1, true, 0.001], [2, false, 1.5], [3, true, 0.001]], 2)
    const c = compare(measured, [predicted], { fromS: 1, toS: 4 }, 1)
    expect(c.measured).toMatchObject({ claims: 3, coldN: 1, coldP95S: 1 })
    expect(c.warmHitPp.value).toBeCloseTo(0, 9)
    expect(c.coldP95Pct!.value).toBeCloseTo(50, 9)
    expect(c.measured.sandboxS).toBeCloseTo(6, 6) // 2 alive over [1, 4)
  })

  it('counts a refused claim as a claim that missed, as the gateway counts it', () => {
    const measured = side([[0, true, 0.001], [1, true, 0.001], [2, false, 1]], 2, [3])
    const predicted = side([[0, true, 0.001], [1, true, 0.001], [2, false, 1], [3, false, 1.2]], 2)
    const c = compare(measured, [predicted], { fromS: 0, toS: 4 }, 1)
    expect(c.measured).toMatchObject({ claims: 3, refused: 1, warmHitRate: 0.5 })
    expect(c.predicted).toMatchObject({ claims: 4, refused: 0, warmHitRate: 0.5 })
    expect(c.warmHitPp.value).toBeCloseTo(0, 9)
  })

  it('has no interval from one value', () => {
    expect(halfWidth95([3])).toBeUndefined()
    expect(halfWidth95([1, 3])).toBeCloseTo(12.706, 3)
  })
})

describe('the fidelity plan', () => {
  it('measures at least 2,000 arrivals per trace in the full run, with predictive, within 60 minutes', () => {
    const plan = fidelityPlan(false)
    const traces = plan.traces.map((t) => makeTrace(plan, t))
    for (const t of traces) expect(measuredArrivals(plan, t)).toBeGreaterThanOrEqual(2000)
    expect(Object.keys(plan.policies)).toEqual(['fixed', 'erlang', 'predictive'])
    expect(plannedS(plan, traces)).toBeLessThan(58 * 60)
  })

  it('takes another speed: the same arrivals, a longer plan at a lower speed, the predictive day compressed alike', () => {
    const at11 = fidelityPlan(false), at8 = fidelityPlan(false, 8)
    const traces = at8.traces.map((t) => makeTrace(at8, t))
    expect(traces.map((t) => t.t.length)).toEqual(at11.traces.map((t) => makeTrace(at11, t).t.length))
    expect(plannedS(at8, traces)).toBeGreaterThan(plannedS(at11, traces) * 1.3)
    expect(at8.policies.predictive).toMatchObject({ dayS: at8.historyS / 8 })
  })

  it('replays the history first for predictive only, and measures the same arrivals for every policy', () => {
    const plan = fidelityPlan(true)
    const full = makeTrace(plan, plan.traces[0]!)
    const fixed = cellTrace(plan, full, 'fixed')
    const predictive = cellTrace(plan, full, 'predictive')
    expect(predictive).toMatchObject({ trace: full, measureFromS: plan.historyS })
    expect(fixed.measureFromS).toBe(0)
    const measured = [...full.t].filter((t) => t >= plan.historyS)
    expect([...fixed.trace.t]).toEqual(measured.map((t) => t - plan.historyS))
    expect(full.t.length).toBeGreaterThan(measured.length) // the history has arrivals of its own
    // The predictive policy's day is the diurnal trace's, compressed by the speed.
    expect(plan.policies.predictive).toMatchObject({ dayS: plan.historyS / plan.speed })
    expect(plan.traces[1]!.shape).toMatchObject({ periodS: plan.historyS })
  })
})

describe('infra-lab fidelity --quick --driver fake', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fidelity-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('replays every trace x policy through a gateway of its own and writes the report', async () => {
    const c = io(dir)
    const code = await fidelityCommand({ quick: true, driver: 'fake', out: 'out' }, c.io, new AbortController().signal)
    expect(code, c.stderr).toBe(0)
    expect(c.stderr).toMatch(/planned \d+\.\d min/)
    const md = readFileSync(join(dir, 'out/fidelity.md'), 'utf8')
    for (const t of ['poisson', 'diurnal', 'bursty']) for (const p of ['fixed', 'erlang', 'predictive']) expect(md).toMatch(new RegExp(`\\| ${t} \\| ${p} \\| \\d+ \\| [\\d.]+ % \\| [\\d.]+ % \\|`))
    expect(md).toContain('## Verdict')
    expect(existsSync(join(dir, 'out/fidelity.svg'))).toBe(true)
    const json = JSON.parse(readFileSync(join(dir, 'out/fidelity.json'), 'utf8')) as { cells: { policy: string; arrivals: number; comparison: { measured: { claims: number } }; replay: { sessions: number; createsS: number[]; createsAtS: number[] } }[] }
    expect(json.cells).toHaveLength(9)
    for (const cell of json.cells) {
      // Every arrival was claimed and the measured ones compared; predictive replayed its history first.
      if (cell.policy === 'predictive') expect(cell.replay.sessions).toBeGreaterThan(cell.arrivals)
      else expect(cell.replay.sessions).toBe(cell.arrivals)
      expect(cell.comparison.measured.claims).toBe(cell.arrivals)
      // Each create was read from the pool's status, with its launch time.
      expect(cell.replay.createsS.length).toBeGreaterThan(0)
      expect(cell.replay.createsAtS).toHaveLength(cell.replay.createsS.length)
    }
  }, 300_000)
})
