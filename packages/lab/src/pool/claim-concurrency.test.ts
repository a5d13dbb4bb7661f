import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../clock/clock.ts'
import { makePool, session } from './test-fixture.ts'

describe('concurrent claims on a small pool', () => {
  let pool: ReturnType<typeof makePool>
  afterEach(async () => {
    await pool.close()
  })

  it('200 claims from 20 callers (maxSize 4): no sandbox serves two sessions, none is lost, the pool never passes maxSize', async () => {
    const maxSize = 4
    pool = makePool({ policy: { kind: 'fixed', size: 2 }, maxSize, maxConcurrentCreates: 4 }, { startDelayMs: 2 }, { clock: systemClock })
    pool.controller.start()
    const claimedBy = new Map<string, string>() // sandbox -> session
    const refusals = new Map<string, number>()
    let overMax = 0
    let waited = 0
    let n = 0
    const caller = async (c: number) => {
      for (let done = 0; done < 10;) {
        const id = `s-${c}-${n++}`
        let got
        try {
          got = await pool.runtime.claim(session(id, `u${c}`))
        } catch (err) {
          const name = (err as Error).name
          refusals.set(name, (refusals.get(name) ?? 0) + 1)
          if (name !== 'CapacityExhausted') throw err
          await new Promise((r) => setTimeout(r, 1)) // Retry-After, shortened
          continue
        }
        if (!got.warm) waited++
        const sb = got.claimed.sandbox.id
        expect(claimedBy.has(sb), `sandbox ${sb} claimed by ${claimedBy.get(sb)} and ${id}`).toBe(false)
        claimedBy.set(sb, id)
        const owned = (await pool.store.listSandboxes({ pool: 'alpha' })).filter((s) => s.state !== 'destroying')
        if (owned.length > maxSize) overMax++
        got.channel?.close()
        await pool.store.endSession(id, 'terminated', Date.now())
        await pool.runtime.retire(sb, 'session_ended')
        done++
      }
    }
    await Promise.all(Array.from({ length: 20 }, (_, c) => caller(c)))
    await pool.controller.stop()

    expect(claimedBy.size).toBe(200)
    expect([...refusals.keys()].filter((k) => k !== 'CapacityExhausted')).toEqual([])
    expect(overMax).toBe(0)
    expect(waited).toBeGreaterThan(0) // the wait path was taken, not only warm claims
    // Each session is on its own sandbox, as the store has it too.
    const sessions = await pool.store.listSessions({ pool: 'alpha', limit: 1000 })
    expect(sessions).toHaveLength(200)
    expect(new Set(sessions.map((s) => s.sandboxId)).size).toBe(200)
    // Every sandbox started is accounted for exactly once: claimed (then destroyed with its
    // session), retired warm, or still warm; none vanished, none is left claimed.
    const live = (await pool.driver.list()).map((h) => h.id)
    const destroyed = pool.driver.destroyed
    expect(new Set(destroyed).size).toBe(destroyed.length)
    for (const sb of claimedBy.keys()) expect(destroyed).toContain(sb)
    expect(live.filter((id) => claimedBy.has(id))).toEqual([])
    expect(new Set([...destroyed, ...live]).size).toBe(pool.driver.createCalls)
    const rows = await pool.store.listSandboxes({ pool: 'alpha' })
    expect(rows.map((r) => r.state).filter((s) => s !== 'warm')).toEqual([])
    expect(rows.map((r) => r.id).sort()).toEqual([...live].sort())
    expect(pool.controller.waiters.size).toBe(0)
  }, 60_000)
})
