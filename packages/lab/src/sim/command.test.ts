import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { simCommand } from './command.ts'
import { parseScenario } from './scenario.ts'
import { grid, paretoFrontier, parseAxis, recommend, setPath, type SweepPoint } from './sweep.ts'
import type { SimResult } from './stats.ts'
import { captureIo } from '../io.test-util.ts'

const MINIMAL = {
  durationS: 86400, seed: 1,
  arrivals: { kind: 'poisson', ratePerS: 1 },
  sessionS: { kind: 'exponential', meanS: 600 },
  sandbox: { startS: { kind: 'constant', valueS: 10 } },
  policy: { kind: 'fixed', size: 15 },
}

const io = captureIo

describe('scenario files', () => {
  it('accept the minimal form of the issue', () => {
    expect(parseScenario(MINIMAL).ok).toBe(true)
  })

  it('name the field in every error', () => {
    const r = parseScenario({ ...MINIMAL, arrivals: { kind: 'poisson' }, sandbox: { startS: { kind: 'lognormal', meanS: 1 } }, policy: { kind: 'fixed', size: -1 } })
    expect(r.ok).toBe(false)
    const errors = (r as { errors: string[] }).errors
    expect(errors.some((e) => e.startsWith('arrivals.ratePerS:'))).toBe(true)
    expect(errors.some((e) => e.startsWith('sandbox.startS.sigma:'))).toBe(true)
    expect(errors.some((e) => e.startsWith('policy.size:'))).toBe(true)
  })
})

describe('sweep parameters', () => {
  it('parse ranges, steps, lists and JSON arrays', () => {
    expect(parseAxis('policy.size=0..3')).toEqual({ path: 'policy.size', values: [0, 1, 2, 3] })
    expect(parseAxis('x=0..1:0.25').values).toEqual([0, 0.25, 0.5, 0.75, 1])
    expect(parseAxis('hosts.image.mode=pull,golden').values).toEqual(['pull', 'golden'])
    expect(parseAxis('policy=[{"kind":"fixed","size":1}]').values).toEqual([{ kind: 'fixed', size: 1 }])
    expect(() => parseAxis('nothing')).toThrow(/path=values/)
  })

  it('make a grid and set dotted paths without touching the input', () => {
    expect(grid([{ path: 'a', values: [1, 2] }, { path: 'b', values: ['x', 'y'] }])).toEqual([{ a: 1, b: 'x' }, { a: 1, b: 'y' }, { a: 2, b: 'x' }, { a: 2, b: 'y' }])
    const input = { policy: { kind: 'fixed', size: 1 } }
    expect(setPath(input, 'policy.size', 5)).toEqual({ policy: { kind: 'fixed', size: 5 } })
    expect(setPath(input, 'hosts.slots', 4)).toEqual({ policy: { kind: 'fixed', size: 1 }, hosts: { slots: 4 } })
    expect(input.policy.size).toBe(1)
  })

  it('find the Pareto frontier and the cheapest point meeting the target', () => {
    const pt = (n: number, cost: number, p99: number): SweepPoint => ({ params: { n }, result: { cost: { total: cost }, wait: { p99S: p99 } } as SimResult })
    const points = [pt(0, 10, 12), pt(1, 12, 5), pt(2, 13, 6), pt(3, 20, 0.3), pt(4, 30, 0.3), pt(5, 25, 0.9)]
    expect(paretoFrontier(points).map((p) => p.params['n'])).toEqual([0, 1, 3])
    expect(recommend(points, 1)!.params).toEqual({ n: 3 })
    expect(recommend(points, 0.1)).toBeUndefined()
  })
})

describe('simCommand', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-'))
  writeFileSync(join(dir, 'min.json'), JSON.stringify({ ...MINIMAL, durationS: 3600 }))
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...MINIMAL, sessionS: { kind: 'weibull' } }))

  it('--json prints exactly one JSON object with the figures of the issue', async () => {
    const t = io(dir)
    expect(await simCommand('min.json', { json: true }, t.io)).toBe(0)
    const lines = t.stdout.trim().split('\n')
    expect(lines).toHaveLength(1)
    const r = JSON.parse(lines[0]!) as SimResult
    for (const k of ['sessions', 'warmHitRate', 'wait', 'cost', 'utilization', 'interruptions', 'events', 'perf']) expect(r).toHaveProperty(k)
    expect(Object.keys(r.wait)).toEqual(expect.arrayContaining(['p50S', 'p95S', 'p99S', 'maxS', 'meanS']))
    expect(Object.keys(r.cost)).toEqual(expect.arrayContaining(['total', 'perHour', 'per1000Sessions']))
    expect(r).not.toHaveProperty('series')
  })

  it('rejects a bad scenario with the field named and exit code 2', async () => {
    const t = io(dir)
    expect(await simCommand('bad.json', {}, t.io)).toBe(2)
    expect(t.stderr).toContain('sessionS')
  })

  it('--sweep --json gives every point, the frontier and a recommendation', async () => {
    const t = io(dir)
    expect(await simCommand('min.json', { json: true, sweep: ['policy.size=0..20:10'], targetP99S: 1 }, t.io)).toBe(0)
    const out = JSON.parse(t.stdout) as { points: unknown[]; frontier: unknown[]; recommendation: unknown }
    expect(out.points).toHaveLength(3)
    expect(out.recommendation).toEqual({ 'policy.size': 20 })
  })
})
