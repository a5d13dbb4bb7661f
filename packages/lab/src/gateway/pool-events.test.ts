import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock/manual-clock.ts'
import type { PoolStatus } from '../pool/controller.ts'
import { SqliteStore } from '../store/sqlite/sqlite-store.ts'
import { POOL_STATUS_EVERY_MS, PoolStatusEvents } from './pool-events.ts'
import type { PoolRuntime } from '../pool/runtime.ts'

describe('pool.status events', () => {
  let store: SqliteStore
  let clock: ManualClock
  let publisher: PoolStatusEvents
  const status = new Map<string, PoolStatus>()
  /** Only what the publisher reads of a pool: its name and its controller's last status. */
  const pool = (name: string) => ({ spec: { name }, controller: { status: () => status.get(name)! } }) as unknown as PoolRuntime

  beforeEach(() => {
    store = new SqliteStore(':memory:')
    clock = new ManualClock(1_000_000)
    status.set('a', { ready: 2, starting: 0, claimed: 0, target: 2 })
    status.set('b', { ready: 0, starting: 1, claimed: 0, target: 1 })
    publisher = new PoolStatusEvents({ pools: new Map([['a', pool('a')], ['b', pool('b')]]), store, clock })
    publisher.start()
  })
  afterEach(async () => {
    publisher.stop()
    await store.close()
  })

  /** Moves the clock a step and lets the publisher's store writes finish. */
  async function tick(): Promise<void> {
    clock.advance(POOL_STATUS_EVERY_MS)
    await new Promise((r) => setTimeout(r, 10))
  }
  const events = async () => (await store.listEvents(0, 100)).map((e) => [e.pool, e.data, e.at])

  it("appends each pool's counts once, then only a pool whose counts changed, at most once a second", async () => {
    expect(await events()).toEqual([])
    await tick()
    expect(await events()).toEqual([
      ['a', { ready: 2, starting: 0, claimed: 0, target: 2 }, 1_001_000], ['b', { ready: 0, starting: 1, claimed: 0, target: 1 }, 1_001_000],
    ])
    await tick()
    expect(await events()).toHaveLength(2) // nothing changed
    // two changes within the second: one event, with the counts of its end
    status.set('a', { ready: 1, starting: 1, claimed: 1, target: 2 })
    status.set('a', { ready: 1, starting: 0, claimed: 1, target: 2 })
    await tick()
    const all = await store.listEvents(0, 100)
    expect(all.slice(2).map((e) => [e.type, e.pool, e.user, e.sessionId, e.data])).toEqual([['pool.status', 'a', null, null, { ready: 1, starting: 0, claimed: 1, target: 2 }]])
    publisher.stop()
    status.set('b', { ready: 1, starting: 0, claimed: 0, target: 1 })
    await tick()
    expect(await store.listEvents(0, 100)).toHaveLength(3)
  })
})
