import { describe, expect, it } from 'vitest'
import { renderStartupAb, summarize, type AbRun } from './startup-ab-command.ts'

const ctx = {
  machine: { cpuModel: 'x', cores: 2, memoryGiB: 4, kernel: 'k', node: 'v20' }, date: '2026-01-01T00:00:00.000Z', command: 'c', sessions: 100,
  load: { atStart: 0, atEnd: 0 }, base: { dir: '/b', commit: 'aaa' }, head: { dir: '/h', commit: 'bbb' },
}
const runs = (base: number[], head: number[]): AbRun[] => [
  ...base.map((ratio, round) => ({ side: 'base' as const, round, warmP50Ms: ratio * 2, floorP50Ms: 2, claimP50Ms: 1, ratio })),
  ...head.map((ratio, round) => ({ side: 'head' as const, round, warmP50Ms: ratio * 2, floorP50Ms: 2, claimP50Ms: 1, ratio })),
]

describe('bench startup-ab summary', () => {
  it('calls a head that matches the base within noise, with the ratio of medians and its interval', () => {
    const r = summarize(runs([2.0, 2.2, 1.9, 2.1, 2.0, 2.3], [2.1, 2.0, 2.2, 1.9, 2.05, 2.15]), ctx)
    expect(r.headOverBase).toBeCloseTo(2.075 / 2.05, 3)
    expect(r.interval[0]).toBeLessThanOrEqual(1)
    expect(r.interval[1]).toBeGreaterThanOrEqual(1)
    expect(r.withinNoise).toBe(true)
    expect(renderStartupAb(r)).toContain('Within noise: **yes**')
  })

  it('calls a head 50 % slower on every run not within noise', () => {
    const base = [2.0, 2.05, 1.95, 2.0, 2.02, 1.98]
    const r = summarize(runs(base, base.map((x) => x * 1.5)), ctx)
    expect(r.headOverBase).toBeCloseTo(1.5, 2)
    expect(r.interval[0]).toBeGreaterThan(1.3)
    expect(r.withinNoise).toBe(false)
    expect(renderStartupAb(r)).toContain('Within noise: **no**')
  })
})
