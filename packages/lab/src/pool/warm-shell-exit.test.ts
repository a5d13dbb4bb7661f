import { afterEach, describe, expect, it } from 'vitest'
import { makePool } from './test-fixture.ts'

describe('a warm sandbox whose shell exits', () => {
  let pool: ReturnType<typeof makePool>
  afterEach(async () => {
    await pool.close()
  })

  it('is retired and replaced, never left ready for a claim', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 1 } })
    await pool.converge()
    const handle = (await pool.store.getSandbox('sb-001'))!.handle!
    const other = await pool.driver.connect(handle)
    other.send({ type: 'terminate' }) // the fake agent's shell exits; every connection hears it
    other.close()
    await expect.poll(async () => pool.store.getSandbox('sb-001')).toBeUndefined()
    await pool.controller.settled()
    await pool.converge()
    expect(await pool.warmIds()).toEqual(['sb-002'])
    expect(pool.driver.destroyed).toContain('sb-001')
    expect(await pool.metric('lab_sandbox_failures_total', { driver: 'fake', reason: 'exited_early' })).toBe(1)
  })

  it('is retired when adopted after a restart', async () => {
    pool = makePool({ policy: { kind: 'fixed', size: 1 } })
    await pool.converge()
    await pool.controller.stop()
    const handle = (await pool.store.getSandbox('sb-001'))!.handle!
    const other = await pool.driver.connect(handle)
    other.send({ type: 'terminate' })
    other.close()
    const ctl = pool.restarted()
    await ctl.reconcile()
    await ctl.settled()
    expect(await pool.store.getSandbox('sb-001')).toBeUndefined()
    expect(pool.driver.destroyed).toContain('sb-001')
  })
})
