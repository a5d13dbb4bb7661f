import { describe, expect, it } from 'vitest'
import { simulate } from './model.ts'
import { parseScenario } from './scenario.ts'
import { fitSharedStarts, SharedStarts } from './shared-starts.ts'

/** Runs creates through SharedStarts: launch times and works in, each create's duration out. */
function durations(cores: number, launches: readonly number[], works: readonly number[]): number[] {
  const s = new SharedStarts(cores)
  const out = new Array<number>(launches.length)
  let i = 0
  while (i < launches.length || s.size > 0) {
    const end = s.nextEndAt()
    if (i < launches.length && launches[i]! <= end) { s.add(i, works[i]!, launches[i]!); i++ }
    else { const id = s.pop(end); out[id] = end - launches[id]! }
  }
  return out
}

describe('creates sharing processors (sandbox.createCores)', () => {
  it('slows each create by the number in flight beyond the cores', () => {
    expect(durations(1, [0, 0], [1, 1])).toEqual([2, 2])
    // A alone for 0.5 s, then both at half speed: A ends at 1.5, B (0.5 done) alone until 2.
    expect(durations(1, [0, 0.5], [1, 1])).toEqual([1.5, 1.5])
    expect(durations(2, [0, 0, 0], [1, 1, 1]).map((x) => Number(x.toFixed(9)))).toEqual([1.5, 1.5, 1.5])
    expect(durations(4, [0, 0, 0], [1, 2, 3])).toEqual([1, 2, 3])
  })

  it('makes simulated cold waits grow with the creates running at once', () => {
    const run = (createCores?: number) => {
      const p = parseScenario({
        durationS: 60, seed: 1, arrivals: { kind: 'trace', file: '(hand-made)' }, sessionS: { kind: 'trace' },
        sandbox: { startS: { kind: 'constant', valueS: 1 }, ...(createCores ? { createCores } : {}) }, policy: { kind: 'fixed', size: 0 },
      })
      if (!p.ok) throw new Error(p.errors.join('\n'))
      const t = Float64Array.from([1, 1, 1, 1])
      return simulate(p.scenario, { trace: { t, durationS: t.map(() => 10), user: undefined, users: 1 }, logClaims: true }).claims!.waitS
    }
    expect(run()).toEqual([1, 1, 1, 1])
    expect(run(2)).toEqual([2, 2, 2, 2]) // four creates on two processors
  })

  it('refuses createCores with hosts', () => {
    const p = parseScenario({ durationS: 60, seed: 1, arrivals: { kind: 'poisson', ratePerS: 1 }, sessionS: { kind: 'constant', valueS: 1 }, sandbox: { startS: { kind: 'constant', valueS: 1 }, createCores: 2 }, policy: { kind: 'fixed', size: 0 }, hosts: { slots: 4 } })
    expect(p.ok ? [] : p.errors).toEqual(['sandbox.createCores: models one machine without hosts or fargate: leave it out with them'])
  })

  it('fits the cores and each create\'s time alone from measured launches and durations', () => {
    // Bursts of 1 to 16 creates 20 s apart, each 0.3 to 0.5 s alone, on 2 processors.
    const launches: number[] = []
    ;[1, 2, 4, 8, 16, 1, 3, 12, 1, 6].forEach((size, b) => { for (let k = 0; k < size; k++) launches.push(b * 20 + k * 0.05) })
    const works = launches.map((_, i) => 0.3 + 0.2 * ((i * 7) % 11) / 10)
    const dur = durations(2, launches, works)
    expect(Math.max(...dur)).toBeGreaterThan(2)
    const fit = fitSharedStarts(launches, dur)
    expect(Math.abs(fit.cores - 2)).toBeLessThanOrEqual(0.25)
    fit.worksS.forEach((w, i) => expect(Math.abs(w / works[i]! - 1)).toBeLessThan(0.15))
    // With creates that ran alone, the crowded ones are fitted to take as long as they would alone.
    const withAlone: number[] = []
    ;[1, 1, 1, 1, 1, 1, 8, 16, 12].forEach((size, b) => { for (let k = 0; k < size; k++) withAlone.push(b * 20 + k * 0.05) })
    const works2 = withAlone.map((_, i) => 0.3 + 0.2 * ((i * 7) % 11) / 10)
    const fit2 = fitSharedStarts(withAlone, durations(2, withAlone, works2))
    expect(Math.abs(fit2.cores - 2)).toBeLessThanOrEqual(0.25)
    fit2.worksS.forEach((w, i) => expect(Math.abs(w / works2[i]! - 1)).toBeLessThan(0.15))
    // Creates that never overlap: nothing to share, the durations are the works.
    const apart = fitSharedStarts([0, 5, 10], [0.3, 0.5, 0.4])
    expect(apart.worksS).toEqual([0.3, 0.5, 0.4])
  })
})
