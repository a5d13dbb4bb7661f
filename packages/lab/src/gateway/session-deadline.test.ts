import { describe, expect, it } from 'vitest'
import { poolSpecSchema } from '../spec/pool-spec.ts'
import { nextDeadline, sweepStep, timeoutsOf } from './session-deadline.ts'

const S = 1000
const pool = poolSpecSchema.parse({ name: 'p', driver: 'fake', idleTimeoutS: 600, maxLifetimeS: 3600 })

describe('session deadlines', () => {
  it("a session's own limits win; one recorded without them takes its pool's", () => {
    expect(timeoutsOf({ createdAt: 0, expiresAt: 300 * S, idleTimeoutS: 60 }, pool)).toEqual({ expiresAt: 300 * S, idleTimeoutS: 60 })
    expect(timeoutsOf({ createdAt: 10 * S, expiresAt: null, idleTimeoutS: null }, pool)).toEqual({ expiresAt: 3610 * S, idleTimeoutS: 600 })
    expect(timeoutsOf({ createdAt: 0, expiresAt: null, idleTimeoutS: null }, { ...pool, idleTimeoutS: 0, maxLifetimeS: 0 })).toEqual({ expiresAt: null, idleTimeoutS: null })
    expect(timeoutsOf({ createdAt: 0, expiresAt: null, idleTimeoutS: null }, undefined)).toEqual({ expiresAt: null, idleTimeoutS: null })
  })

  it('the next deadline is the earlier of the lifetime and the idle end', () => {
    const t = { expiresAt: 1000 * S, idleTimeoutS: 300 }
    expect(nextDeadline(t, 0)).toEqual({ reason: 'idle_timeout', at: 300 * S, warnFrom: 240 * S })
    expect(nextDeadline(t, 800 * S)).toEqual({ reason: 'max_lifetime', at: 1000 * S, warnFrom: 940 * S })
    expect(nextDeadline({ expiresAt: null, idleTimeoutS: null }, 0)).toBeUndefined()
  })

  it('a short idle limit is warned of halfway, so activity every few seconds draws no warnings', () => {
    expect(nextDeadline({ expiresAt: null, idleTimeoutS: 30 }, 0)).toEqual({ reason: 'idle_timeout', at: 30 * S, warnFrom: 15 * S })
    for (let typedAt = 0; typedAt < 100 * S; typedAt += 5 * S) {
      expect(sweepStep(nextDeadline({ expiresAt: null, idleTimeoutS: 30 }, typedAt), typedAt + 5 * S, undefined)).toBeUndefined()
    }
  })

  it('warns once per deadline with the seconds left, again for a moved one, and ends at the deadline', () => {
    const d = nextDeadline({ expiresAt: 300 * S, idleTimeoutS: null }, 0)
    expect(sweepStep(d, 239 * S, undefined)).toBeUndefined()
    expect(sweepStep(d, 240 * S, undefined)).toEqual({ kind: 'warn', reason: 'max_lifetime', inS: 60, deadline: 300 * S })
    expect(sweepStep(d, 240.5 * S, undefined)).toMatchObject({ inS: 60 })
    expect(sweepStep(d, 241 * S, 300 * S)).toBeUndefined()
    expect(sweepStep(nextDeadline({ expiresAt: 400 * S, idleTimeoutS: null }, 0), 345 * S, 300 * S)).toMatchObject({ kind: 'warn', inS: 55 })
    expect(sweepStep(d, 300 * S, 300 * S)).toEqual({ kind: 'end', reason: 'max_lifetime' })
  })
})
