import { describe, expect, it } from 'vitest'
import { clampTarget, decide, POLICIES } from './index.ts'
import { policySchema } from '../spec/policy-schema.ts'
import type { PolicyPoolSpec, PoolObservation } from './types.ts'

const obs = (o: Partial<PoolObservation> = {}): PoolObservation => ({ ready: 0, starting: 0, claimed: 0, claimRatePerS: 0, meanStartS: 0, ...o })
const fixed = (size: number, minSize = 0, maxSize = 64): PolicyPoolSpec => ({ minSize, maxSize, policy: { kind: 'fixed', size } })
const erlang = (targetMissRate: number, minSize = 0, maxSize = 64): PolicyPoolSpec =>
  ({ minSize, maxSize, policy: { kind: 'erlang', targetMissRate, windowS: 300 } })

describe('decide: fixed', () => {
  it('keeps the fixed size', () => {
    expect(decide(fixed(4), obs(), 0)).toEqual({ target: 4, why: 'fixed size 4' })
  })

  it('raises to minSize', () => {
    expect(decide(fixed(1, 3), obs(), 0).target).toBe(3)
  })

  it('lowers to maxSize - claimed', () => {
    expect(decide(fixed(8, 0, 10), obs({ claimed: 5 }), 0).target).toBe(5)
  })

  it('never goes below 0, even when claimed exceeds maxSize and minSize asks for more', () => {
    expect(decide(fixed(8, 2, 10), obs({ claimed: 12 }), 0).target).toBe(0)
    expect(decide(fixed(8, 2, 10), obs({ claimed: 10 }), 0).target).toBe(0)
  })

  it('says why it clamped', () => {
    expect(decide(fixed(8, 0, 10), obs({ claimed: 5 }), 0).why).toBe('fixed size 8; clamped to 5 (min 0, max 10, claimed 5)')
  })
})

describe('decide: erlang', () => {
  it('is minSize with no claims', () => {
    expect(decide(erlang(0.01, 2), obs({ meanStartS: 5 }), 0).target).toBe(2)
    expect(decide(erlang(0.01, 0), obs({ meanStartS: 5 }), 0).target).toBe(0)
  })

  it('sizes for λ·E[B]: 2/s × 5 s = 10 erlangs at 1% needs 18', () => {
    expect(decide(erlang(0.01), obs({ claimRatePerS: 2, meanStartS: 5 }), 0).target).toBe(18)
  })

  it('1 erlang at 20% needs 2; at 50% needs 1', () => {
    expect(decide(erlang(0.2), obs({ claimRatePerS: 0.5, meanStartS: 2 }), 0).target).toBe(2)
    expect(decide(erlang(0.5), obs({ claimRatePerS: 0.5, meanStartS: 2 }), 0).target).toBe(1)
  })

  it('clamps to maxSize - claimed and to minSize', () => {
    expect(decide(erlang(0.01, 0, 20), obs({ claimRatePerS: 2, meanStartS: 5, claimed: 6 }), 0).target).toBe(14)
    expect(decide(erlang(0.5, 4), obs({ claimRatePerS: 0.5, meanStartS: 2 }), 0).target).toBe(4)
  })

  it('is pure: same inputs, same decision', () => {
    const spec = erlang(0.05)
    const o = obs({ claimRatePerS: 0.3, meanStartS: 4 })
    expect(decide(spec, o, 1)).toEqual(decide(spec, o, 1_000_000))
  })
})

describe('policy registry', () => {
  it('has a decider for every kind the schema accepts', () => {
    const kinds = policySchema.options.map((o) => o.shape.kind.value).sort()
    expect(Object.keys(POLICIES).sort()).toEqual(kinds)
  })

  it('clampTarget rounds fractional targets up', () => {
    expect(clampTarget(2.1, fixed(0), 0)).toBe(3)
  })
})
