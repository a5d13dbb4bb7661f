// A replay against a real gateway (fake driver, manual clock): the warm/cold sequence of a
// hand-made trace follows from the pool's create budget alone, so it is known exactly.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LabClient } from '../client/client.ts'
import { ManualClock } from '../clock/manual-clock.ts'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { startTestGateway, TEST_KEY, waitFor } from '../gateway/test-gateway.test-util.ts'
import { parseTrace } from '../sim/trace.ts'
import { Replay, type ReplayRun } from './replay.ts'
import { CreateDurations } from './replay-metrics.ts'
import { replayResult } from './replay-result.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

const T0 = Date.parse('2027-01-04T09:00:00Z')

/**
 * Pool: fixed size 1, one warm create a minute (maxCreatesPerMin 1); its first fill takes the
 * minute's token at T0. Speed 10, so the arrivals are due at 0.5, 10.5, 65.5, 66.5 and 125.5 s:
 *   0.5  warm: the pool's one sandbox; its refill waits for the next token (T0 + 60 s)
 *   10.5 cold: nothing warm yet (a cold start needs no token)
 *   65.5 warm: refilled at 60 s; the next refill waits for 120 s
 *   66.5 cold
 *   125.5 warm: refilled at 120 s
 * Each session lasts 20 s / 10 = 2 s.
 */
const TRACE = `t,durationS
5,20
105,20
655,20
665,20
1255,20
`

describe('infra-lab replay against a gateway on the manual clock', () => {
  let gw: Gw
  let clock: ManualClock

  beforeEach(async () => {
    clock = new ManualClock(T0)
    gw = await startTestGateway(new FakeDriver(), {
      pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 8, maxCreatesPerMin: 1, maxWarmAgeS: 0, idleTimeoutS: 0, maxLifetimeS: 0 }],
    }, { clock })
  })
  afterEach(async () => {
    await gw?.cleanup()
  })

  /** Fires what is due now and waits until the replay's requests and the pool's creates are done. */
  async function quiesce(replay?: Replay): Promise<void> {
    const controller = gw.pools.get('default')!.controller
    for (let k = 0; k < 3; k++) {
      clock.advance(0)
      if (replay) await waitFor(() => replay.busy === 0, 5000, 'the replay to be idle')
      await controller.reconcile()
      await controller.settled()
    }
  }

  async function replayTo(replay: Replay, untilMs: number): Promise<void> {
    while (clock.now() < T0 + untilMs) {
      clock.advance(Math.min(500, T0 + untilMs - clock.now()))
      await quiesce(replay)
    }
  }

  it('records the exact warm/cold sequence, the pool over time and every create', async () => {
    await quiesce()
    const replay = new Replay(new LabClient(gw.url, TEST_KEY), { trace: parseTrace(TRACE, 0), speed: 10, pool: 'default', clock, sampleEveryMs: 1000 })
    const running = replay.run()
    await waitFor(() => replay.started, 5000, 'the replay to start')
    await replayTo(replay, 130_000)
    const run: ReplayRun = await running

    expect(run.arrivals.map((a) => a.path)).toEqual(['warm', 'cold', 'warm', 'cold', 'warm'])
    expect(run.arrivals.map((a) => a.atS)).toEqual([0.5, 10.5, 65.5, 66.5, 125.5])
    expect(run.arrivals.every((a) => a.durationS === 2 && a.claimMs !== undefined && a.failure === undefined)).toBe(true)
    expect(run.arrivals.filter((a) => a.path === 'cold').every((a) => a.coldStartMs !== undefined)).toBe(true)
    // Two cold starts and the refills at 60 and 120 s; none at 180 s (the replay ended at 127.5 s).
    // Each create on its own, from the pool's status: launched at the two cold arrivals and the two tokens.
    expect(run.createsS).toHaveLength(4)
    expect(run.createsS.every((s) => s >= 0 && s < 5)).toBe(true)
    const at = [...run.createsAtS].sort((a, b) => a - b)
    expect([at[0], at[2]]).toEqual([10.5, 66.5]) // the cold starts, at their arrivals
    expect(at[1]).toBeGreaterThanOrEqual(60) // the refills, once a token accrued (the controller's next pass)
    expect(at[1]).toBeLessThanOrEqual(61)
    expect(at[3]).toBeGreaterThanOrEqual(120)
    expect(at[3]).toBeLessThanOrEqual(121)
    expect(run.createsMissed).toBe(0)
    expect(run.endS).toBe(127.5)
    expect(run.pool.spec).toMatchObject({ policy: { kind: 'fixed', size: 1 }, maxCreatesPerMin: 1 })
    // Between 12.5 s (the cold session ended) and 60 s the pool holds nothing at all.
    const empty = run.samples.filter((s) => s.tS >= 20 && s.tS <= 59)
    expect(empty.length).toBeGreaterThan(30)
    expect(empty.every((s) => s.ready === 0 && s.total === 0 && s.target === 1)).toBe(true)
    expect(run.samples.filter((s) => s.tS >= 61 && s.tS <= 65).every((s) => s.ready === 1)).toBe(true)

    const json = replayResult(run, 'hand-made.csv')
    expect(json).toMatchObject({ sessions: 5, warmHits: 3, coldStarts: 2, warmHitRate: 0.6, creates: { ok: 4, failed: 0, claimsFailed: 0 } })
    // Each cold claim's own time after its sandbox was handed to it: the gateway's claimMs - coldStartMs.
    const cold = run.arrivals.filter((a) => a.path === 'cold')
    expect(json.replay.coldClaimsS).toEqual(cold.map((a) => Math.max(0, a.claimMs! - a.coldStartMs!) / 1000))
    // Alive by hand: 0-2.5 (warm, then claimed), 10.5-12.5 (cold), 60-67.5 (refill, claimed), 66.5-68.5 (cold),
    // 120-127.5 (refill, claimed): 21.5 s; the 1 s samples hold each count until the next look.
    expect(json.sandboxS).toBeGreaterThan(18)
    expect(json.sandboxS).toBeLessThan(25)
  })

  it('takes each create once from the pool status, and counts those that fell off its list between two looks', () => {
    const d = new CreateDurations()
    const at = (s: number) => new Date(T0 + s * 1000).toISOString()
    d.update({ count: 5, recent: [{ at: at(0), ms: 100 }] }) // the baseline: not the replay's
    d.update({ count: 7, recent: [{ at: at(0), ms: 100 }, { at: at(1), ms: 200 }, { at: at(2), ms: 300 }] })
    d.update({ count: 7, recent: [{ at: at(1), ms: 200 }, { at: at(2), ms: 300 }] })
    d.update({ count: 10, recent: [{ at: at(3), ms: 400 }, { at: at(4), ms: 500 }] }) // 3 new, 2 listed
    expect(d.durationsS).toEqual([0.2, 0.3, 0.4, 0.5])
    expect(d.launchedAtMs).toEqual([1, 2, 3, 4].map((s) => T0 + s * 1000))
    expect(d.missed).toBe(1)
  })

  it('says which pool does not exist, and that a key was refused', async () => {
    await quiesce()
    const trace = parseTrace(TRACE, 0)
    await expect(new Replay(new LabClient(gw.url, TEST_KEY), { trace, speed: 10, pool: 'nope', clock, sampleEveryMs: 1000 }).run())
      .rejects.toThrow('the gateway has no pool named nope (--pool)')
    await expect(new Replay(new LabClient(gw.url, 'wrong-key-0123456789'), { trace, speed: 10, pool: 'default', clock, sampleEveryMs: 1000 }).run())
      .rejects.toThrow(/refused the API key \(401/)
    expect(() => new Replay(new LabClient(gw.url, TEST_KEY), { trace: parseTrace('t\n1\n', 0), speed: 10, pool: 'default', clock, sampleEveryMs: 1000 }))
      .toThrow(/no durationS column/)
  })

  it('says when the gateway cannot be reached', async () => {
    const trace = parseTrace(TRACE, 0)
    await expect(new Replay(new LabClient('http://127.0.0.1:1', TEST_KEY), { trace, speed: 10, pool: 'default', clock, sampleEveryMs: 1000 }).run())
      .rejects.toThrow('cannot reach the gateway at http://127.0.0.1:1 (is it running? --url)')
  })
})
