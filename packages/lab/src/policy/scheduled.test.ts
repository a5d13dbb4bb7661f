import { describe, expect, it } from 'vitest'
import { decide } from './index.ts'
import { policySchema, type PolicyInput } from '../spec/policy-schema.ts'
import type { PolicyPoolSpec, PoolObservation } from './types.ts'

const obs: PoolObservation = { ready: 0, starting: 0, claimed: 0, claimRatePerS: 0, meanStartS: 1 }
const spec = (p: PolicyInput, minSize = 0, maxSize = 100): PolicyPoolSpec => ({ minSize, maxSize, policy: policySchema.parse(p) })
// 2026-01-05 is a Monday.
const at = (iso: string) => Date.parse(iso)

const office = spec({
  kind: 'scheduled', defaultSize: 2,
  rules: [
    { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '18:00', size: 20 },
    { days: ['mon'], from: '12:00', to: '13:00', size: 30 },
    { days: ['fri'], from: '22:00', to: '02:00', size: 5 },
  ],
})

describe('decide: scheduled', () => {
  it('uses the rule covering the time of day on a weekday', () => {
    expect(decide(office, obs, at('2026-01-06T09:00:00Z')).target).toBe(20)
    expect(decide(office, obs, at('2026-01-06T17:59:59Z')).target).toBe(20)
  })

  it('falls back to defaultSize outside the rules and at the end minute (to is exclusive)', () => {
    expect(decide(office, obs, at('2026-01-06T18:00:00Z'))).toEqual({ target: 2, why: 'scheduled: default 2' })
    expect(decide(office, obs, at('2026-01-10T10:00:00Z')).target).toBe(2) // Saturday
  })

  it('takes the largest of overlapping rules', () => {
    expect(decide(office, obs, at('2026-01-05T12:30:00Z')).target).toBe(30)
    expect(decide(office, obs, at('2026-01-06T12:30:00Z')).target).toBe(20)
  })

  it('runs an overnight rule into the next day (attributed to the day it starts)', () => {
    expect(decide(office, obs, at('2026-01-09T23:00:00Z')).target).toBe(5) // Friday night
    expect(decide(office, obs, at('2026-01-10T01:59:00Z')).target).toBe(5) // Saturday early
    expect(decide(office, obs, at('2026-01-10T02:00:00Z')).target).toBe(2)
    expect(decide(office, obs, at('2026-01-09T01:00:00Z')).target).toBe(2) // Friday early: Thursday has no such rule
  })

  it('applies the UTC offset and looks leadS ahead', () => {
    const ny = spec({ kind: 'scheduled', defaultSize: 0, utcOffsetMin: -300, rules: [{ from: '09:00', to: '10:00', size: 7 }] })
    expect(decide(ny, obs, at('2026-01-06T14:00:00Z')).target).toBe(7)
    expect(decide(ny, obs, at('2026-01-06T09:00:00Z')).target).toBe(0)
    const lead = spec({ kind: 'scheduled', defaultSize: 0, leadS: 120, rules: [{ from: '09:00', to: '10:00', size: 7 }] })
    expect(decide(lead, obs, at('2026-01-06T08:58:00Z')).target).toBe(7)
    expect(decide(lead, obs, at('2026-01-06T08:57:59Z')).target).toBe(0)
  })

  it('is clamped like every kind', () => {
    expect(decide(spec({ kind: 'scheduled', defaultSize: 50 }, 0, 10), obs, 0).target).toBe(10)
  })

  it('rejects bad times with the field named', () => {
    const r = policySchema.safeParse({ kind: 'scheduled', defaultSize: 1, rules: [{ from: '9:00', to: '10:00', size: 1 }] })
    expect(r.success).toBe(false)
    expect(r.error!.issues[0]!.path).toEqual(['rules', 0, 'from'])
  })
})
