import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ProbeEnv } from '../src/bench/driver-probe.ts'
import { runBenchExec } from '../src/bench/exec-command.ts'
import { LATENCY_SERIES, type LatencyRun } from '../src/bench/exec-latency.ts'
import { buildExecReport, renderExecMarkdown, type ExecReport } from '../src/bench/exec-report.ts'
import { SseCounter, type TransferResult } from '../src/bench/exec-throughput.ts'
import { buildFloorApp } from '../src/bench/floor-server.ts'
import { machineInfo } from '../src/bench/machine.ts'
import { msStats } from '../src/bench/startup-report.ts'
import { summaryRows } from '../src/bench/summary.ts'
import { runCli } from '../src/cli/run-cli.test-util.ts'
import { localDriverSkipReason } from '../src/drivers/local/test-support.ts'

const sink = () => {
  let text = ''
  return { stream: new Writable({ write(c, _e, cb) { text += String(c); cb() } }), text: () => text }
}
let base: string
beforeEach(() => { base = mkdtempSync(join(tmpdir(), 'bench-exec-test-')) })
afterEach(() => rmSync(base, { recursive: true, force: true }))

function io() {
  const stdout = sink()
  const stderr = sink()
  return { io: { cwd: base, env: { HOME: base, PATH: process.env.PATH ?? '' }, stdout: stdout.stream, stderr: stderr.stream }, stdout, stderr }
}

describe('the streamed exec reader of bench exec', () => {
  it('counts decoded stdout bytes of events split anywhere across chunks, skips keep-alive comments and keeps the exit event', () => {
    const text = [
      ': keep-alive', '',
      'event: stdout', `data: ${JSON.stringify(Buffer.alloc(1000).toString('base64'))}`, '',
      'event: stderr', `data: ${JSON.stringify(Buffer.from('oops').toString('base64'))}`, '',
      'event: stdout', `data: ${JSON.stringify(Buffer.alloc(7).toString('base64'))}`, '',
      'event: exit', 'data: {"exitCode":0,"signal":null,"timedOut":false,"durationMs":3}', '', '',
    ].join('\n')
    const sse = new SseCounter()
    for (let i = 0; i < text.length; i += 13) sse.push(Buffer.from(text.slice(i, i + 13)))
    expect(sse.stdoutBytes).toBe(1007)
    expect(sse.stderrBytes).toBe(4)
    expect(sse.exit).toMatchObject({ exitCode: 0, signal: null })
  })

  it('leaves an event without its closing blank line unread (no exit before the stream is whole)', () => {
    const sse = new SseCounter()
    sse.push(Buffer.from('event: exit\ndata: {"exitCode":0,"signal":null}\n'))
    expect(sse.exit).toBeUndefined()
  })
})

describe('the transport floor of bench exec', () => {
  it('answers an exec at once with a body of the gateway\'s shape', async () => {
    const app = await buildFloorApp()
    try {
      const r = await app.inject({ method: 'POST', url: '/v1/sessions/ses_x/exec', payload: { cmd: ['true'] } })
      expect(r.statusCode).toBe(200)
      expect(r.json()).toEqual({ exitCode: 0, signal: null, stdout: '', stderr: '', timedOut: false, truncated: false, durationMs: 0 })
    } finally {
      await app.close()
    }
  })
})

const rise = (r: number) => ({ beforeMiB: 50, peakMiB: 50 + r, afterMiB: 50, riseMiB: r, method: 'hwm' as const })

function run(): LatencyRun {
  const ms = { floorFirst: [1, 1, 1], spawn: [2, 2, 2], first: [4, 4, 4], roundTrip: [3, 3, 3], floorRoundTrip: [0.5, 0.5, 0.5] }
  return {
    iterations: 3, warmup: 1, ms, partial: false, warmClaims: 3,
    firstSteps: { postMs: [1.5, 1.5, 1.5], execMs: [2.5, 2.5, 2.5], secondExecMs: [1, 1, 1], floorPostMs: [0.5, 0.5, 0.5], floorExecMs: [0.5, 0.5, 0.5] },
    agentMs: { first: [1.8, 1.8, 1.8], roundTrip: [1.7, 1.7, 1.7] },
    claimTimings: [1, 2, 3].map(() => ({ claimMs: 0.9, agentReadyMs: 1.2, agentApplyMs: 0.4 })),
  }
}

const probe = (where: 'sandbox' | 'host', helper: number) => ({ where, trueMs: msStats([1, 1], 0), helperMs: msStats([helper, helper], 0) })

function report(transfers: TransferResult[]): ExecReport {
  return buildExecReport(run(), { transfers, probes: [probe('sandbox', 2), probe('host', 1.5)] }, false, {
    machine: machineInfo(), date: '2026-01-02T03:04:05.000Z', command: 'npx infra-lab bench exec', client: 'node:http keep-alive',
    load: { cores: 2, atStart: 1.5, atEnd: 2.25 },
  })
}

describe('the exec report', () => {
  it('judges each goal against its reference: first command against floor + spawn, the round trip against spawn, RSS against 64 MiB', () => {
    const r = report([
      { kind: 'stream', what: 'exec head', bytes: 8 * 2 ** 20, seconds: 0.5, mibPerS: 16, gateway: rise(10), agent: rise(70), cpuSeconds: { gateway: 0.4, agent: 0.25, client: 0.1 } },
    ])
    expect(r.goals.map((g) => [g.goal, g.ratio, g.met])).toEqual([
      ['time to first command p50 <= 1.5x (floor p50 + host spawn p50)', 4 / 3, true],
      ['exec round trip p50 <= 1.5x host spawn p50', 1.5, true],
      ['stream: gateway RSS rise < 64 MiB', 10 / 64, true],
      ['stream: agent RSS rise < 64 MiB', 70 / 64, false],
    ])
    const md = renderExecMarkdown(r)
    expect(md).toContain('| time to first command p50 <= 1.5x (floor p50 + host spawn p50) | 4.00 ms | 3.00 ms | 1.33x (goal <= 1.5x) | **met** |')
    expect(md).toContain('| stream: agent RSS rise < 64 MiB | 70.0 MiB | 64 MiB | 1.09x | **not met** |')
    expect(md).toContain('| exec round trip | 3 | 1 | 3.00 | 3.00 | 3.00 | 3.00 |')
    expect(md).toContain('| exec round trip / (floor: exec + host spawn) | 1.20x | 1.20x | 1.20x |')
    expect(md).toContain('| then POST …/exec answered | 2.50 | 0.50 | 2.00 |')
    expect(md).toContain('3 of 3 measured claims found a warm sandbox')
    expect(md).toContain('| after it, untimed: a second POST …/exec on the same session | 1.00 | 0.50 | 0.50 |')
    expect(md).toContain('the agent answered the claim (`agentReadyMs`, claim sent to `ready`) in 1.20 ms at p50, of which it spent `agentApplyMs` 0.40 ms applying it; the first exec took 1.50 ms longer than the second')
    expect(md).toContain('Load: the 1-minute load average was 1.5 at the start and 2.25 at the end of this run, on 2 cores.')
    // The round trip (3) split: HTTP on the floor (0.5), the helper's spawn chain in the sandbox (2), the rest (0.5).
    expect(md).toContain('| sandbox | 1.00 | 1.00 | 2.00 | 2.00 |')
    expect(md).toContain('| the agent\'s way of running `true` (sandbox: spawn lab-exec -- true) | 2.00 |')
    expect(md).toMatch(/\| the rest: [^|]+ \| 0\.50 \|/)
    expect(md).toContain('| stream | 0.50 | 0.40 | 0.25 | 0.10 |')
    expect(md).toContain('| exec head | 8.0 | 0.50 | 16 | 50.0 -> 60.0 (+10.0) | 50.0 -> 120.0 (+70.0) | hwm/hwm |')
  })

  it('says the goal is not met when the round trip is above 1.5x host spawn', () => {
    const r = buildExecReport({ ...run(), ms: { ...run().ms, roundTrip: [3.1, 3.1, 3.1] } }, { transfers: [], probes: [] }, false, {
      machine: machineInfo(), date: '2026-01-02T03:04:05.000Z', command: 'x', client: 'y', load: { cores: 2, atStart: 1, atEnd: 1 },
    })
    expect(r.goals[1]).toMatchObject({ met: false })
    expect(renderExecMarkdown(r)).toContain('| (not run) |')
  })
})

/** Parses argv as the CLI does, without running a benchmark (help and bad values stop before). */
const parse = (argv: string[]) => runCli(argv, { cwd: base })

describe('bench exec without a local driver', () => {
  it('documents its flags and refuses bad values before starting anything', async () => {
    const help = await parse(['bench', 'exec', '--help'])
    for (const f of ['--iterations', '--warmup', '--stream-mib', '--upload-mib', '--pool-size', '--quick', '--note', '--out', '--json']) expect(help.stdout).toContain(f)
    expect((await parse(['bench', 'exec', '--iterations', '0'])).stderr).toMatch(/--iterations must be an integer from 1 to/)
    expect((await parse(['bench', 'exec', '--upload-mib', 'lots'])).stderr).toMatch(/--upload-mib must be an integer/)
    expect((await parse(['bench', 'exec', '--pool-size', '65'])).stderr).toMatch(/--pool-size must be an integer from 1 to 64/)
    expect(existsSync(join(base, 'docs'))).toBe(false)
  })

  it('skips with the reason and writes nothing', async () => {
    const t = io()
    const probe: ProbeEnv = { env: { PATH: process.env.PATH ?? '' }, isRoot: false, pingDocker: () => Promise.reject(new Error('no')) }
    const r = await runBenchExec({ out: 'out', quick: true }, t.io, new AbortController().signal, probe)
    expect(r).toMatchObject({ code: 0, skipped: expect.stringContaining('needs root') })
    expect(t.stderr.text()).toContain('bench exec: skipped: the local driver needs root')
    expect(existsSync(join(base, 'out'))).toBe(false)
  })
})

const localSkip = localDriverSkipReason()
describe.skipIf(localSkip !== undefined)(`bench exec against a gateway with local sandboxes${localSkip ? ` (skipped: ${localSkip})` : ''}`, () => {
  // Shapes and real measurements, never speed.
  it('times every series the same number of times, interleaved, and moves every byte it reports', async () => {
    const t = io()
    const r = await runBenchExec({ out: 'out', quick: true, iterations: 3, warmup: 1, streamMib: 4, uploadMib: 8 }, t.io, new AbortController().signal)
    expect(r.code, t.stderr.text()).toBe(0)
    const json = JSON.parse(readFileSync(join(base, 'out', 'exec.json'), 'utf8')) as ExecReport
    expect(json.latency.map((x) => [x.series, x.ms.n, x.ms.warmup])).toEqual(LATENCY_SERIES.map((s) => [s, 3, 1]))
    for (const x of json.latency) expect(x.ms.p50, x.series).toBeGreaterThan(0)
    // The first commands ran in sandboxes the gateway claimed, and the agent timed each `true`.
    expect(json.firstCommand.claims).toBe(3)
    expect(json.firstCommand.steps.agentDurationP50).toBeGreaterThan(0)
    expect(json.firstCommand.steps.claim).toHaveProperty('claimMs')
    // Read after the second exec: the agent had answered the claim by then.
    expect(json.firstCommand.steps.claim.agentReadyMs).toBeGreaterThan(0)
    expect(json.firstCommand.steps.secondExecP50).toBeGreaterThan(0)
    expect(json.transfers.map((x) => [x.kind, x.bytes])).toEqual([['stream', 4 * 2 ** 20], ['upload', 8 * 2 ** 20]])
    for (const x of json.transfers) {
      // Both processes were found and read: node processes of tens of MiB, the peak exact (root resets the high-water mark).
      expect(x.gateway.beforeMiB).toBeGreaterThan(20)
      expect(x.agent.beforeMiB).toBeGreaterThan(10)
      expect([x.gateway.method, x.agent.method]).toEqual(['hwm', 'hwm'])
      expect(x.mibPerS).toBeGreaterThan(0)
      // CPU time comes in 10 ms ticks: a few MiB may cost a process less than one.
      for (const v of Object.values(x.cpuSeconds)) expect(v).toBeGreaterThanOrEqual(0)
    }
    // The spawn probes ran in the sandbox (through an exec, with the helper beside its agent) and on the host.
    expect(json.spawnProbes.map((p) => [p.where, p.trueMs.n, p.helperMs.n])).toEqual([['sandbox', 3, 3], ['host', 3, 3]])
    expect(json.goals).toHaveLength(6)
    const md = readFileSync(join(base, 'out', 'exec.md'), 'utf8')
    expect(md).toMatch(/Load: the 1-minute load average was [\d.]+ at the start/)
    expect(md).toContain('node:http with a keep-alive Agent')
    expect(readFileSync(join(base, 'out', 'exec.svg'), 'utf8')).toContain('<svg')
    expect(t.stdout.text()).toContain('## Goals')
    // bench all's summary has one row per goal, each with its ratio and verdict.
    const rows = summaryRows(join(base, 'out')).filter((row) => row.link === 'exec.md')
    expect(rows.map((row) => row.experiment)).toEqual(json.goals.map((g) => `exec (local): ${g.goal}`))
    for (const [i, row] of rows.entries()) expect(row.result).toMatch(json.goals[i]!.met ? /\(met\)$/ : /\(not met\)$/)
  }, 300_000)
})
