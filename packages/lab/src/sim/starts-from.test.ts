import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { simCommand } from './command.ts'
import { simulate } from './model.ts'
import type { SimResult } from './stats.ts'
import { startsFromScenario, type ReplayFile } from './starts-from.ts'
import { parseTrace } from './trace.ts'
import { captureIo } from '../io.test-util.ts'

const io = captureIo

/** What sim --starts-from reads of a replay's JSON; the rest of the file is ignored. */
function replayFile(over: { createsS: number[]; size?: number; createFailures?: number; coldClaimsS?: number[] }): ReplayFile & Record<string, unknown> {
  return {
    sessions: 0, warmHitRate: 0,
    replay: {
      speed: 10, startedAt: '2027-01-04T09:00:00.000Z', claimS: 0.002, createFailures: over.createFailures ?? 0, createsS: over.createsS,
      ...(over.coldClaimsS ? { coldClaimsS: over.coldClaimsS } : {}),
      pool: { name: 'default', spec: { policy: { kind: 'fixed', size: over.size ?? 0 }, minSize: 0, maxSize: 64, maxConcurrentCreates: 4, maxCreatesPerMin: 600, maxWarmAgeS: 3600 } },
      arrivals: [],
    },
  }
}

// 40 arrivals 100 s apart, 10 s each; at speed 10: one every 10 s, lasting 1 s.
const TRACE = `t,durationS\n${Array.from({ length: 40 }, (_, i) => `${i * 100},10`).join('\n')}\n`

describe('sim --trace --starts-from', () => {
  const dir = mkdtempSync(join(tmpdir(), 'starts-from-'))
  writeFileSync(join(dir, 'trace.csv'), TRACE)

  async function predict(file: object, extra: { speed?: number } = {}): Promise<SimResult> {
    writeFileSync(join(dir, 'replay.json'), JSON.stringify(file))
    const c = io(dir)
    const code = await simCommand(undefined, { json: true, trace: 'trace.csv', startsFrom: 'replay.json', ...extra }, c.io)
    expect(code, c.stderr).toBe(0)
    return JSON.parse(c.stdout) as SimResult
  }

  it('draws cold starts from the create times the replay measured', async () => {
    // No warm pool: every claim waits for its own create, so every wait is a measured create + the claim.
    const slow = await predict(replayFile({ createsS: [7.5] }))
    expect(slow).toMatchObject({ sessions: 40, coldStarts: 40, warmHits: 0 })
    expect(slow.wait.p50S).toBeCloseTo(7.502, 9)
    expect(slow.wait.maxS).toBeCloseTo(7.502, 9)
    const mixed = await predict(replayFile({ createsS: [0.25, 3] }))
    expect(new Set([mixed.wait.p50S, mixed.wait.p95S, mixed.wait.maxS].map((x) => x.toFixed(3)))).toEqual(new Set(['0.252', '3.002']))
  })

  it("adds each cold claim's own time as the replay measured it, not a warm claim", async () => {
    // The gateway's cold path connects to the agent and binds the workspace after the create: 0.3 s here.
    const r = await predict(replayFile({ createsS: [7.5], coldClaimsS: [0.3] }))
    expect(r).toMatchObject({ sessions: 40, coldStarts: 40 })
    expect(r.wait.p50S).toBeCloseTo(7.8, 9)
    expect(r.wait.maxS).toBeCloseTo(7.8, 9)
  })

  it("runs the gateway's pool spec on the compressed timeline, from a full pool", async () => {
    // A pool of 1 refilled in 0.5 s while claims come every 10 s (compressed): every claim is warm.
    const r = await predict(replayFile({ createsS: [0.5], size: 1 }))
    expect(r).toMatchObject({ sessions: 40, warmHits: 40 })
    // Uncompressed (speed 1) the same trace takes 10 times as long: sandbox-seconds grow with it.
    const slow = await predict(replayFile({ createsS: [0.5], size: 1 }), { speed: 1 })
    expect(slow.sandboxS).toBeGreaterThan(r.sandboxS * 8)
  })

  it('compresses arrivals and durations but not create times', () => {
    const trace = parseTrace(TRACE, 0)
    const { scenario, trace: compressed } = startsFromScenario(replayFile({ createsS: [2], createFailures: 1 }), trace, { speed: 10, seed: 3 })
    expect(compressed.t[1]! - compressed.t[0]!).toBe(10)
    expect(compressed.durationS![0]).toBe(1)
    expect(compressed.t[0]).toBe(scenario.warmupS)
    expect(scenario.sandbox.startS).toEqual({ kind: 'empirical', valuesS: [2] })
    expect(scenario.pool).toMatchObject({ maxConcurrentCreates: 4, maxCreatesPerMin: 600, maxWarmAgeS: 3600, resyncS: 10, createFailureRate: 0.5 })
  })

  it('fits how creates slowed each other down when the replay has their launch times', () => {
    // Four creates launched together took 2 s each; alone, one took 0.5 s: one processor shared by four.
    const file = replayFile({ createsS: [2, 2, 2, 2, 0.5, 0.5] })
    file.replay = { ...file.replay, createsAtS: [0, 0, 0, 0, 10, 20] }
    const { scenario } = startsFromScenario(file, parseTrace(TRACE, 0), { speed: 10, seed: 3 })
    expect(scenario.sandbox.createCores).toBe(1)
    const works = (scenario.sandbox.startS as { valuesS: number[] }).valuesS
    works.forEach((w) => expect(w).toBeCloseTo(0.5, 9))
  })

  it("draws each create among the replay's creates launched nearest its moment: the slow half of the run stays the slow half", () => {
    // Creates took 0.2 s in the first 200 s of the replay and 5 s after; a pool of 0 makes every
    // claim wait for its own create, launched when the claim arrives (every 10 s, compressed).
    const file = replayFile({ createsS: Array.from({ length: 40 }, (_, i) => (i < 20 ? 0.2 : 5)) })
    file.replay = { ...file.replay, createsAtS: Array.from({ length: 40 }, (_, i) => i * 10) }
    const waits = (createDraws?: 'timed' | 'any') => {
      const { scenario, trace } = startsFromScenario(file, parseTrace(TRACE, 0), { speed: 10, seed: 3, ...(createDraws ? { createDraws } : {}) })
      const r = simulate(scenario, { trace, logClaims: true })
      expect(r.claims!.tS).toHaveLength(40)
      return { scenario, waitS: [...r.claims!.waitS] }
    }
    const timed = waits()
    expect(timed.scenario.sandbox.startS).toMatchObject({ kind: 'timed', nearest: 4 })
    expect((timed.scenario.sandbox.startS as { atS: number[] }).atS[1]).toBe(timed.scenario.warmupS + 10)
    timed.waitS.slice(0, 16).forEach((w) => expect(w).toBeCloseTo(0.202, 9))
    timed.waitS.slice(24).forEach((w) => expect(w).toBeCloseTo(5.002, 9))
    // Drawn among all of them, slow creates land in the first half too (and fast ones in the second).
    const any = waits('any')
    expect(any.scenario.sandbox.startS.kind).toBe('empirical')
    expect(any.waitS.slice(0, 16).some((w) => Math.abs(w - 5.002) < 1e-9)).toBe(true)
    expect(any.waitS.slice(24).some((w) => Math.abs(w - 0.202) < 1e-9)).toBe(true)
  })

  it('counts the claims still waiting when the last session is due to end, as the replay does', () => {
    // Every claim waits a 7.5 s create; the last arrival's session is due to end 1 s after it.
    const { scenario, trace } = startsFromScenario(replayFile({ createsS: [7.5] }), parseTrace(TRACE, 0), { speed: 10, seed: 3 })
    const r = simulate(scenario, { trace, logClaims: true })
    expect(r.claims!.tS).toHaveLength(40)
    expect(r.claims!.waitS.every((w) => Math.abs(w - 7.502) < 1e-9)).toBe(true)
  })

  it('refuses a file that is not a replay, a replay without creates, and a scenario with it', async () => {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ sessions: 1 }))
    let c = io(dir)
    expect(await simCommand(undefined, { trace: 'trace.csv', startsFrom: 'bad.json' }, c.io)).toBe(2)
    expect(c.stderr).toMatch(/bad\.json is not a replay's JSON \(infra-lab replay --out\): replay: /)
    writeFileSync(join(dir, 'none.json'), JSON.stringify(replayFile({ createsS: [] })))
    c = io(dir)
    expect(await simCommand(undefined, { trace: 'trace.csv', startsFrom: 'none.json' }, c.io)).toBe(2)
    expect(c.stderr).toContain('replay.createsS: the replay measured no sandbox create')
    c = io(dir)
    expect(await simCommand('x.json', { trace: 'trace.csv', startsFrom: 'none.json' }, c.io)).toBe(2)
    expect(c.stderr).toContain('not both')
    c = io(dir)
    expect(await simCommand(undefined, { startsFrom: 'none.json' }, c.io)).toBe(2)
    expect(c.stderr).toContain('go together')
    c = io(dir)
    expect(await simCommand('x.json', { createDraws: 'any' }, c.io)).toBe(2)
    expect(c.stderr).toContain('--create-draws goes with --starts-from')
  })
})
