import { afterEach, describe, expect, it } from 'vitest'
import { countSandboxes } from './pool-counts.ts'
import { makePool, session } from './test-fixture.ts'

describe('countSandboxes', () => {
  it('counts each store row once, by what it is doing', () => {
    const rows = [
      { id: 'a', state: 'starting' }, { id: 'b', state: 'starting' }, { id: 'c', state: 'warm' }, { id: 'd', state: 'warm' },
      { id: 'e', state: 'claimed' }, { id: 'f', state: 'destroying' },
    ] as const
    expect(countSandboxes(rows, (id) => id === 'b' || id === 'd')).toEqual({ ready: 1, starting: 1, coldStarting: 2, claimed: 1, destroying: 1, total: 6 })
  })
})

describe('PoolController.sandboxCounts', () => {
  let pool: ReturnType<typeof makePool>
  afterEach(async () => {
    await pool.close()
  })

  it('counts a cold start for a claim apart from refills, from its create until the claim takes it', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 1 }, maxSize: 4 }, { startDelayMs: 50 })
    await pool.controller.reconcile() // one refill starting
    const cold = pool.runtime.claim(session('s-1'))
    await expect.poll(() => pool.controller.sandboxCounts()).toMatchObject({ starting: 1, coldStarting: 1, ready: 0, total: 2 })
    ;(await cold).channel?.close()
    await pool.controller.settled()
    expect(await pool.controller.sandboxCounts()).toEqual({ ready: 1, starting: 0, coldStarting: 0, claimed: 1, destroying: 0, total: 2 })
  })
})
