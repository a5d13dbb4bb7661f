import { describe, expect, it } from 'vitest'
import { simulate } from './model.ts'
import { parseScenario, type ScenarioInput } from './scenario.ts'

/** A pool of one refilled in 10 s; hand-timed arrivals with sessions of 100 s; the pool fills during warm-up. */
function run(arrivalsS: number[], over: { pool?: ScenarioInput['pool']; coldClaimS?: number } = {}) {
  const p = parseScenario({
    durationS: 200, warmupS: 15, seed: 1,
    arrivals: { kind: 'trace', file: '(hand-made)' }, sessionS: { kind: 'trace' },
    sandbox: { startS: { kind: 'constant', valueS: 10 }, claimS: 0.01, ...(over.coldClaimS !== undefined ? { coldClaimS: { kind: 'constant', valueS: over.coldClaimS } } : {}) },
    policy: { kind: 'fixed', size: 1 },
    ...(over.pool ? { pool: over.pool } : {}),
  })
  if (!p.ok) throw new Error(p.errors.join('\n'))
  const t = Float64Array.from(arrivalsS)
  return simulate(p.scenario, { trace: { t, durationS: t.map(() => 100), user: undefined, users: 1 }, logClaims: true })
}

describe('which claim a finished create serves', () => {
  it('hands every finished create to the oldest waiting claim, as the gateway does (handOff, the default)', () => {
    // 20: warm, and a refill starts (done at 30). 24: cold, its own create done at 34. The refill
    // finishing at 30 goes to the claim waiting since 24 (6 s) and another refill starts (done at
    // 40); the cold start done at 34 is ready beside that refill, one above the target, and is
    // retired as surplus (as the controller does). 41 takes the refill done at 40.
    const r = run([20, 24, 41])
    expect(r.claims).toEqual({ tS: [20, 24, 41], warm: [true, false, true], waitS: [0.01, 6.01, 0.01], failedAtS: [] })
  })

  it('with `own`, a cold claim waits for its own create and refills only fill the pool (Erlang B)', () => {
    const r = run([20, 24, 41], { pool: { coldClaims: 'own' } })
    // The claim at 24 waits its own 10 s; the refill done at 30 is ready for 41.
    expect(r.claims).toEqual({ tS: [20, 24, 41], warm: [true, false, true], waitS: [0.01, 10.01, 0.01], failedAtS: [] })
  })

  it("adds the cold claim's own time (coldClaimS) to the wait for the sandbox, not claimS", () => {
    const r = run([20, 24], { coldClaimS: 0.25 })
    expect(r.claims!.waitS).toEqual([0.01, 6.25])
  })

  it('refuses a claim when maxClaimWaiters claims already wait, as the gateway does', () => {
    // 24 and 24.5 wait (the refill done at 30, then 24's own create done at 34); 25 finds two waiting.
    const r = run([20, 24, 24.5, 25], { pool: { maxClaimWaiters: 2 } })
    expect(r.claims).toEqual({ tS: [20, 24, 24.5], warm: [true, false, false], waitS: [0.01, 6.01, 9.51], failedAtS: [25] })
    expect(r.creates.claimsFailed).toBe(1)
  })

  it('at maxSize a claim waits for a start no other claim waits for, and is refused when there is none', () => {
    // maxSize 2: at 24 the pool holds the claimed sandbox and the refill in flight: no cold start,
    // but the refill is on its way and no one waits for it. At 25 nothing is left to wait for.
    const r = run([20, 24, 25], { pool: { maxSize: 2 } })
    expect(r.claims).toEqual({ tS: [20, 24], warm: [true, false], waitS: [0.01, 6.01], failedAtS: [25] })
    expect(r.creates.claimsFailed).toBe(1)
  })
})
