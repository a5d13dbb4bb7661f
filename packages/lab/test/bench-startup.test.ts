import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startupDriverUnavailable, type ProbeEnv } from '../src/bench/driver-probe.ts'
import { machineInfo } from '../src/bench/machine.ts'
import { runBenchStartup } from '../src/bench/startup-command.ts'
import { parseLevels, startupPools, sweepRounds } from '../src/bench/startup-plan.ts'
import { msStats, renderStartupMarkdown, seriesResult, type SeriesResult, type StartupReport } from '../src/bench/startup-report.ts'
import { resultFiles, summaryRows, writeSummary } from '../src/bench/summary.ts'
import { localDriverSkipReason } from '../src/drivers/local/test-support.ts'

const sink = () => {
  let text = ''
  return { stream: new Writable({ write(c, _e, cb) { text += String(c); cb() } }), text: () => text }
}
let base: string
beforeEach(() => { base = mkdtempSync(join(tmpdir(), 'bench-startup-test-')) })
afterEach(() => rmSync(base, { recursive: true, force: true }))

function io() {
  const stdout = sink()
  const stderr = sink()
  return { io: { cwd: base, env: { HOME: base, PATH: process.env.PATH ?? '' }, stdout: stdout.stream, stderr: stderr.stream }, stdout, stderr }
}

const noDaemon: ProbeEnv = { env: { PATH: '' }, isRoot: true, pingDocker: () => Promise.reject(new Error('no Docker daemon answers at /var/run/docker.sock (ECONNREFUSED)')) }
const flags = { sessions: 2, concurrency: 2, out: 'out', memorySandboxes: 0 }

describe('the pools bench startup asks the gateway for', () => {
  it('gives the sweep a pool of the largest level and shares it with the drained run when that is N', () => {
    const p = startupPools({ concurrency: 4, sweep: [1, 4, 16, 64], drainedPool: 64 })
    expect(p.pools.map((x) => [x.name, x.policy.size])).toEqual([['default', 4], ['sweep', 64], ['cold', 0]])
    expect(p).toMatchObject({ sweepPool: 'sweep', drainedPool: 'sweep' })
    // room for the (N+1)-th user's cold start beside N claimed sandboxes
    expect(p.pools[1]!.maxSize).toBeGreaterThan(64)
  })

  it('gives the drained run its own pool of exactly N when the sweep needs another size', () => {
    const p = startupPools({ concurrency: 4, sweep: [1, 4], drainedPool: 8 })
    expect(p.pools.map((x) => [x.name, x.policy.size])).toEqual([['default', 4], ['sweep', 4], ['drained', 8], ['cold', 0]])
    expect(p.drainedPool).toBe('drained')
  })

  it('leaves out the sweep and drained pools when both are off', () => {
    const p = startupPools({ concurrency: 4, sweep: [], drainedPool: 0 })
    expect(p.pools.map((x) => x.name)).toEqual(['default', 'cold'])
    expect(p.sweepPool).toBeUndefined()
    expect(p.drainedPool).toBeUndefined()
  })

  it('runs enough rounds for the samples asked, and at least two', () => {
    expect(sweepRounds(1, 64)).toBe(64)
    expect(sweepRounds(16, 64)).toBe(4)
    expect(sweepRounds(64, 64)).toBe(2)
  })

  it('parses --sweep levels sorted and unique, and says what is wrong with a bad one', () => {
    expect(parseLevels('16,1,4,4')).toEqual([1, 4, 16])
    expect(parseLevels('1,x,0')).toMatch(/x, 0 are not an integer from 1 to 1024/)
  })
})

describe('which drivers bench startup can measure here', () => {
  it('skips docker when no daemon answers, with the reason and where to look', async () => {
    expect(await startupDriverUnavailable('docker', noDaemon)).toMatch(/no Docker daemon answers.*start dockerd, see docs\/docker\.md/)
    expect(await startupDriverUnavailable('docker', { ...noDaemon, pingDocker: () => Promise.resolve() })).toBeUndefined()
  })

  it('skips a driver the gateway does not have and the local driver without root', async () => {
    expect(await startupDriverUnavailable('podman', noDaemon)).toMatch(/no driver named podman \(drivers: local, docker, ecs, fake\)/)
    expect(await startupDriverUnavailable('local', { ...noDaemon, isRoot: false })).toMatch(/needs root/)
    expect(await startupDriverUnavailable('local', noDaemon)).toMatch(/bwrap/)
  })

  it('writes nothing and exits 0 when every driver asked for is skipped, naming each', async () => {
    const t = io()
    const r = await runBenchStartup({ ...flags, driver: 'docker,podman' }, t.io, new AbortController().signal, noDaemon)
    expect(r.code).toBe(0)
    expect(r.skipped.map((s) => [s.driver, s.outcome])).toEqual([['docker', 'skipped'], ['podman', 'skipped']])
    expect(t.stderr.text()).toContain('bench startup --driver docker: skipped: no Docker daemon answers')
    expect(existsSync(join(base, 'out'))).toBe(false)
  })

  it('refuses a bad --sweep before starting anything', async () => {
    const t = io()
    const r = await runBenchStartup({ ...flags, driver: 'local', sweep: '4,-1' }, t.io, new AbortController().signal, noDaemon)
    expect(r.code).toBe(2)
    expect(t.stderr.text()).toContain('--sweep: -1 is not an integer')
  })
})

const series = (name: string, values: number[], warmup: number, warm = true): SeriesResult => ({
  name, how: 'test', totalMs: msStats(values, warmup), claimMs: msStats(values.map((v) => v / 2), warmup), warmHits: warm ? values.length : 0,
})

function report(): StartupReport {
  return {
    benchmark: 'startup', driver: 'local', partial: false, machine: machineInfo(), date: '2026-01-02T03:04:05.000Z', command: 'npx infra-lab bench startup',
    skipped: [{ driver: 'docker', outcome: 'skipped', reason: 'no Docker daemon answers' }],
    results: [series('warm', [4, 5, 6], 5), series('cold', [90, 100], 1, false)],
    sweep: [1, 64].map((c) => ({ ...series(`sweep C=${c}`, Array.from({ length: 2 * c }, (_, i) => c + i), c), concurrency: c })),
    drained: { poolSize: 64, rounds: 3, beyond: series('user 65', [150, 200, 250], 0, false), within: series('users 1-64', [10, 20], 0) },
  }
}

describe('the startup report', () => {
  it('shows n and warm-up beside every sweep level, the drained wait, and the skipped drivers', () => {
    const md = renderStartupMarkdown(report())
    expect(md).toContain('| 64 | 128 | 64 | 127 |') // C, n, warm-up, p50 (HDR: 3 significant digits)
    expect(md).toContain('**User 65 waits 200 ms** (p50, n=3, max 250 ms), against 90.0 ms for a cold start on an idle gateway.')
    expect(md).toContain('- docker: skipped: no Docker daemon answers')
    expect(md).toContain('[startup-local-sweep.svg](startup-local-sweep.svg)')
  })

  it('shows each figure beside its floor and their ratio, leads with the warm verdict, and names the step that holds the rest', () => {
    const sample = (totalMs: number, postMs: number, timings: Record<string, number> = {}) => ({ totalMs, postMs, openMs: 1, byteMs: totalMs - postMs - 1, claimMs: timings.claimMs ?? Number.NaN, timings, warm: true })
    const warm = seriesResult({
      name: 'warm', how: 'test', warmup: 0,
      samples: [sample(6, 3, { storeClaimMs: 0.2, bindWorkspaceMs: 0.9, claimMs: 1.5 }), sample(6, 3, { storeClaimMs: 0.2, bindWorkspaceMs: 0.9, claimMs: 1.5 })],
      floor: [sample(2, 1), sample(2, 1)],
    })
    const md = renderStartupMarkdown({ ...report(), results: [warm] })
    expect(md).toContain('Warm start: **3.00x the floor at p50** (6.00 against 2.00 ms) and **3.00x at p99**')
    expect(md).toContain('Goal: at most 1.5x at p50 (not met) and 2x at p99 (not met).')
    expect(md).toContain('| warm | 2 | 0 | 6.00 | 2.00 | 3.00x | 6.00 | 2.00 | 3.00x |')
    expect(md).toContain('| POST /v1/sessions answered | 3.00 | 1.00 | 2.00 |')
    expect(md).toContain('Most of the time above the floor is in: **POST /v1/sessions answered** (2.00 ms at p50); inside the POST the gateway\'s largest step is `bindWorkspaceMs`.')
    const agentBound = seriesResult({
      name: 'warm', how: 'test', warmup: 0,
      samples: [{ ...sample(6, 1.5, { claimMs: 0.5, agentReadyMs: 3.2 }), openMs: 1, byteMs: 3.5 }],
      floor: [{ ...sample(2, 1), byteMs: 0.05 }],
    })
    expect(renderStartupMarkdown({ ...report(), results: [agentBound] })).toContain('Most of the time above the floor is in: **first terminal byte after the upgrade** (3.45 ms at p50); the agent answered the claim (`agentReadyMs`, claim sent to `ready`) in 3.20 ms.')
    writeFileSync(join(base, 'startup-local.json'), JSON.stringify({ ...report(), results: [warm] }))
    expect(summaryRows(base).find((x) => x.experiment === 'session start warm (local)')!.result).toBe('3.00x / 3.00x (6.00 / 6.00 ms; floor 2.00 / 2.00 ms; n=2)')
  })

  it('puts sweep levels, the drained wait and capacity results (also a scenario without a name) in the summary, and lists every file', () => {
    writeFileSync(join(base, 'startup-local.json'), JSON.stringify(report()))
    writeFileSync(join(base, 'startup-local.md'), '')
    writeFileSync(join(base, 'capacity.json'), JSON.stringify({ generatedBy: 'infra-lab sim --results', scenarios: [{ file: 'scenarios/no-prewarm.json', name: null, warmHitRate: 0.5, wait: { p99S: 12.5 } }], benchmark: { month: { eventsPerS: 5e6, wallS: 1.5 } } }))
    writeFileSync(join(base, 'capacity.md'), '')
    writeFileSync(join(base, 'capacity-cost.svg'), '')
    const rows = summaryRows(base)
    expect(rows.map((r) => r.experiment)).toEqual(expect.arrayContaining([
      'session start, 1 at once (local)', 'session start, 64 at once (local)', 'user 65 with a pool of 64 (local)', 'session start (docker)', 'capacity sim: no-prewarm', 'capacity simulator speed',
    ]))
    expect(rows.find((r) => r.experiment.startsWith('user 65'))!.result).toBe('200 / 250 ms (n=3)')
    expect(resultFiles(base)).toEqual([
      { benchmark: 'capacity', files: ['capacity-cost.svg', 'capacity.json', 'capacity.md'] },
      { benchmark: 'startup', files: ['startup-local.json', 'startup-local.md'] },
    ])
    const readme = readFileSync(writeSummary(base, machineInfo(), 'npx infra-lab bench all', []), 'utf8')
    expect(readme).toContain('- capacity: [capacity-cost.svg](capacity-cost.svg), [capacity.json](capacity.json), [capacity.md](capacity.md)')
  })
})

const localSkip = localDriverSkipReason()
describe.skipIf(localSkip !== undefined)(`bench startup against a gateway with local sandboxes${localSkip ? ` (skipped: ${localSkip})` : ''}`, () => {
  // Shapes, never speed: tiny sizes, and only what holds on a loaded machine.
  it('measures the sweep per level, the drained pool\'s extra user separately, and each row beside its floor', async () => {
    const t = io()
    const r = await runBenchStartup({ ...flags, driver: 'local,docker', burstSamples: 2, sweep: '1,2', sweepSamples: 2, drainedPool: 2, drainedRounds: 1 }, t.io, new AbortController().signal, { ...noDaemon, env: { PATH: process.env.PATH ?? '' } })
    expect(r.code, t.stderr.text()).toBe(0)
    const json = JSON.parse(readFileSync(join(base, 'out', 'startup-local.json'), 'utf8')) as StartupReport
    expect(json.sweep.map((s) => [s.concurrency, s.totalMs.n, s.totalMs.warmup])).toEqual([[1, 2, 1], [2, 4, 2]])
    // Which of the 3 users finds no warm sandbox depends on arrival order and on whether a refill
    // was ready first (then all 3 are warm); the split follows the gateway's own warm flag.
    const d = json.drained!
    expect(d).toMatchObject({ poolSize: 2, rounds: 1, beyond: { warmHits: 0 } })
    expect(d.beyond.totalMs.n + d.within.totalMs.n).toBe(3)
    expect(d.beyond.totalMs.n).toBeLessThanOrEqual(1)
    expect(d.within.warmHits).toBe(d.within.totalMs.n)
    // The floor: as many samples as each row (warm-up left out the same way), in the same run.
    for (const row of [...json.results, ...json.sweep]) expect(row.floorMs?.n, row.name).toBe(row.totalMs.n)
    expect(d.within.floorMs?.n).toBe(3)
    const warm = json.results.find((x) => x.name === 'warm')!
    expect(warm.steps!.map((s) => s.step)).toEqual(expect.arrayContaining(['POST /v1/sessions answered', 'terminal WebSocket upgraded', 'first terminal byte after the upgrade', 'gateway: storeClaimMs', 'gateway: claimMs', 'gateway: agentReadyMs']))
    const md = readFileSync(join(base, 'out', 'startup-local.md'), 'utf8')
    expect(md).toMatch(/Warm start: \*\*[\d.]+x the floor at p50\*\*/)
    expect(md).toMatch(/Load: the 1-minute load average was [\d.]+ at the start and [\d.]+ at the end of this run, on \d+ cores\./)
    expect(json.skipped).toEqual([{ driver: 'docker', outcome: 'skipped', reason: expect.stringContaining('no Docker daemon') }])
    expect(json.command).toContain('--driver local,docker --sessions 2')
  }, 300_000)
})
