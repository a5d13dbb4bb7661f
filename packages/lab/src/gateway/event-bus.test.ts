import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../clock/manual-clock.ts'
import { SqliteStore } from '../store/sqlite/sqlite-store.ts'
import type { EventRecord } from '../store/types.ts'
import { EventBus, WAKE_DELAY_MS, type Subscription } from './event-bus.ts'
import { ApiError } from './errors.ts'

const QUEUE_MAX = 50

const append = (store: SqliteStore, user = 'ada', pool = 'default') =>
  store.appendEvent({ at: 1000, type: 'session.created', pool, user, sessionId: 'ses-x', data: {} })

/** Reads a subscription in the background into `got`. */
function drain(sub: Subscription): { got: number[]; done: Promise<void> } {
  const got: number[] = []
  const done = (async () => {
    for await (const e of sub) got.push(e.id)
  })()
  return { got, done }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5))
  if (!cond()) throw new Error(`timed out waiting for ${what}`)
}

describe('event bus', () => {
  let store: SqliteStore
  let clock: ManualClock
  let bus: EventBus
  const all = (_e: EventRecord) => true

  beforeEach(async () => {
    store = new SqliteStore(':memory:')
    clock = new ManualClock(0)
    bus = new EventBus({ store, clock, queueMax: QUEUE_MAX, maxStreamsPerKey: 2, maxStreams: 3 })
    await bus.start()
  })
  afterEach(async () => {
    bus.stop()
    await store.close()
  })

  it('hands a live subscriber the events this process appends, at once and in order, without the poll timer', async () => {
    const sub = bus.subscribe({ owner: 'admin', accept: all })
    const r = drain(sub)
    const ids = [await append(store), await append(store), await append(store)]
    await until(() => r.got.length === 3, 'three events')
    expect(r.got).toEqual(ids)
    sub.close()
    await r.done
    expect(bus.subscriberCount).toBe(0)
  })

  it('finds events another process appended on its poll, on the injected clock', async () => {
    const sub = bus.subscribe({ owner: 'admin', accept: all })
    const r = drain(sub)
    // a write the bus is not told of: as another replica's would be
    store.db.prepare(`INSERT INTO events (at, type, pool, user, session_id, data) VALUES (1, 'session.created', 'default', 'ada', 'ses-y', '{}')`).run()
    await new Promise((res) => setTimeout(res, 20))
    expect(r.got).toEqual([])
    clock.advance(250)
    await until(() => r.got.length === 1, 'the polled event')
    sub.close()
  })

  it('replays from the store after an id, then goes live with no gap and no duplicate while events keep coming', async () => {
    const before: number[] = []
    for (let i = 0; i < 450; i++) before.push(await append(store)) // more than two store pages
    const sub = bus.subscribe({ owner: 'admin', afterId: before[99]!, accept: all })
    const r = drain(sub)
    const during: number[] = []
    for (let i = 0; i < 300; i++) {
      during.push(await append(store))
      // in bursts smaller than the queue (a burst larger than it would cut a live reader off, by design)
      if (i % 7 === 0) await new Promise((res) => setTimeout(res, WAKE_DELAY_MS + 2))
    }
    await until(() => r.got.length === 350 + 300, 'every event after the id')
    expect(r.got).toEqual([...before.slice(100), ...during])
    sub.close()
  })

  it('cuts off a subscriber that stops reading once its queue is full, holding no more than the bound', async () => {
    const ended: string[] = []
    const sub = bus.subscribe({ owner: 'admin', accept: all, onEnd: (why) => ended.push(why) })
    for (let i = 0; i < QUEUE_MAX; i++) await append(store)
    await until(() => sub.queued === QUEUE_MAX, 'a full queue')
    await append(store)
    await until(() => sub.endedBy === 'overflow', 'the cut-off')
    expect(sub.queued).toBe(0)
    expect(ended).toEqual(['overflow'])
    expect(bus.subscriberCount).toBe(0)
    // its reader learns the end (and resumes elsewhere with the last id it saw)
    const r = drain(sub)
    await r.done
    expect(r.got).toEqual([])
  })

  it('passes over events a subscriber does not accept: they neither arrive nor fill its queue', async () => {
    const sub = bus.subscribe({ owner: 'admin', accept: (e) => e.user === 'ada' })
    for (let i = 0; i < 20; i++) await append(store, 'bob')
    const mine = await append(store, 'ada')
    const r = drain(sub)
    await until(() => r.got.length === 1, "ada's event")
    expect(r.got).toEqual([mine])
    expect(sub.endedBy).toBeUndefined()
    sub.close()
  })

  it('starts a subscriber whose id is beyond the log at the log end instead of waiting for ids that never come', async () => {
    await append(store)
    const sub = bus.subscribe({ owner: 'admin', afterId: 1_000_000, accept: all })
    const r = drain(sub)
    await new Promise((res) => setTimeout(res, 20))
    const next = await append(store)
    await until(() => r.got.length === 1, 'the next event')
    expect(r.got).toEqual([next])
    sub.close()
  })

  it('refuses a subscriber past the per-key and the total bound with quota_exceeded naming the limit', () => {
    bus.subscribe({ owner: 'key-a', accept: all })
    bus.subscribe({ owner: 'key-a', accept: all })
    const perKey = (() => {
      try {
        bus.subscribe({ owner: 'key-a', accept: all })
      } catch (err) {
        return err
      }
    })()
    expect(perKey).toBeInstanceOf(ApiError)
    expect(perKey).toMatchObject({ code: 'quota_exceeded', details: [{ limit: 'eventStreamsPerKey', value: 2 }] })
    bus.subscribe({ owner: 'key-b', accept: all })
    expect(() => bus.subscribe({ owner: 'key-c', accept: all })).toThrow(/at most 3 event streams/)
  })

  it('reads nothing while nobody listens: writes and polls cost no read of the log', async () => {
    let reads = 0
    const listEvents = store.listEvents.bind(store)
    store.listEvents = async (afterId, limit) => {
      reads++
      return listEvents(afterId, limit)
    }
    for (let i = 0; i < 5; i++) await append(store)
    await new Promise((res) => setTimeout(res, WAKE_DELAY_MS * 3))
    clock.advance(1000)
    await new Promise((res) => setTimeout(res, 20))
    expect(reads).toBe(0)
    expect(bus.lagging).toBe(true)
    // a listener that wants the log (the webhook worker, while webhooks exist) makes it read again
    let wanted = true
    const demanding = new EventBus({ store, clock, demand: () => wanted })
    await demanding.start()
    let told = 0
    demanding.onEvents(() => told++)
    await append(store)
    await until(() => told === 1, 'the demanding bus to read')
    expect(reads).toBeGreaterThan(0)
    wanted = false
    const before = reads
    await append(store)
    await new Promise((res) => setTimeout(res, WAKE_DELAY_MS * 3))
    expect(reads).toBe(before)
    demanding.stop()
  })

  it('gives a subscriber that arrives after idle reads only what comes after it, losing nothing after that', async () => {
    for (let i = 0; i < 30; i++) await append(store) // the bus reads none of these
    await new Promise((res) => setTimeout(res, WAKE_DELAY_MS * 2))
    expect(bus.lagging).toBe(true)
    const sub = bus.subscribe({ owner: 'admin', accept: all })
    const r = drain(sub)
    await new Promise((res) => setTimeout(res, 20)) // its replay found the log's end
    const after: number[] = []
    for (let i = 0; i < 40; i++) {
      after.push(await append(store))
      if (i % 9 === 0) await new Promise((res) => setTimeout(res, WAKE_DELAY_MS + 2))
    }
    await until(() => r.got.length >= 40, 'the events after it subscribed')
    await new Promise((res) => setTimeout(res, WAKE_DELAY_MS * 2))
    expect(r.got).toEqual(after)
    expect(bus.lagging).toBe(false)
    sub.close()
  })

  it('resumes at the id a closed subscriber saw last, after the bus skipped reads: the events in between arrive', async () => {
    const first = bus.subscribe({ owner: 'admin', accept: all })
    const r1 = drain(first)
    const seen = [await append(store), await append(store)]
    await until(() => r1.got.length === 2, 'the first events')
    first.close()
    await r1.done
    const missed = [await append(store), await append(store), await append(store)]
    await new Promise((res) => setTimeout(res, WAKE_DELAY_MS * 2))
    expect(bus.lagging).toBe(true)
    const again = bus.subscribe({ owner: 'admin', afterId: seen[1]!, accept: all })
    const r2 = drain(again)
    await until(() => r2.got.length === 3, 'the missed events')
    const live = await append(store)
    await until(() => r2.got.length === 4, 'the live event')
    expect(r2.got).toEqual([...missed, live])
    again.close()
  })

  it('resumes a subscriber from its id on a bus that skipped reads, every event once and in order', async () => {
    const ids: number[] = []
    for (let i = 0; i < 250; i++) ids.push(await append(store))
    await new Promise((res) => setTimeout(res, WAKE_DELAY_MS * 2))
    expect(bus.lagging).toBe(true)
    const sub = bus.subscribe({ owner: 'admin', afterId: ids[9]!, accept: all })
    const r = drain(sub)
    for (let i = 0; i < 20; i++) ids.push(await append(store))
    await until(() => r.got.length === 260, 'the events after the id')
    expect(r.got).toEqual(ids.slice(10))
    sub.close()
  })

  it('ends every subscription when it stops', async () => {
    const ended: string[] = []
    const sub = bus.subscribe({ owner: 'admin', accept: all, onEnd: (why) => ended.push(why) })
    const r = drain(sub)
    bus.stop()
    await r.done
    expect(ended).toEqual(['shutdown'])
  })
})
