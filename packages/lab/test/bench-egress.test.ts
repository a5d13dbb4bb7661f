import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { buildEgressReport, renderEgressMarkdown, runBenchEgress } from '../src/bench/egress-command.ts'
import { TRANSFER_PATHS, type TransferPath } from '../src/bench/egress-throughput.ts'
import { machineInfo } from '../src/bench/machine.ts'
import { summaryRows } from '../src/bench/summary.ts'
import { localDriverSkipReason } from '../src/drivers/local/test-support.ts'

const meta = { machine: machineInfo(), date: '2026-12-01T00:00:00.000Z', command: 'npx infra-lab bench egress', load: { atStart: 0, atEnd: 0 } }
const speeds = (v: Partial<Record<TransferPath, number[]>>) => Object.fromEntries(TRANSFER_PATHS.map((p) => [p, v[p] ?? [100]])) as Record<TransferPath, number[]>

describe('the bench egress report', () => {
  it('compares the policies by their medians and the paths to their references', () => {
    const series = {
      none: { policy: 'none' as const, totalMs: [10, 11, 12, 13, 14, 15], claimMs: [1, 1, 1, 1, 1, 1] },
      allow: { policy: 'allow' as const, totalMs: [20, 22, 24, 26, 28, 30], claimMs: [2, 2, 2, 2, 2, 2] },
    }
    const r = buildEgressReport({ series, cold: 0 }, { mib: 200, mibPerS: speeds({ 'direct-http': [1000, 1200, 1100], 'connect-http': [400, 450, 500], 'direct-tls': [800], 'connect-tls': [600], 'injected-tls': [200] }) }, meta, 3)
    expect(r.starts.ratio).toBe(2) // 25 / 12.5
    expect(r.starts.withinNoise).toBe(false)
    expect(r.transfers.medianMibPerS['direct-http']).toBe(1100)
    expect(r.transfers.connectRatio).toBeCloseTo(450 / 1100, 3)
    expect(r.transfers.injectedRatio).toBe(0.25)
    const md = renderEgressMarkdown(r)
    expect(md).toContain('goal: at least 50 %: not met')
    expect(md).toContain('Within noise: **no**')
  })

  it('calls two samples of the same distribution within noise', () => {
    const a = [10, 12, 11, 13, 12, 11, 10, 12]
    const series = { none: { policy: 'none' as const, totalMs: a, claimMs: a }, allow: { policy: 'allow' as const, totalMs: [...a].reverse(), claimMs: a } }
    const r = buildEgressReport({ series, cold: 0 }, { mib: 1, mibPerS: speeds({}) }, meta, 1)
    expect(r.starts.ratio).toBe(1)
    expect(r.starts.withinNoise).toBe(true)
  })
})

const skip = localDriverSkipReason()
describe.skipIf(skip !== undefined)('bench egress --quick on this machine', () => {
  it('measures both parts and writes md, json and svg that the results summary reads', async () => {
    const out = mkdtempSync(join(tmpdir(), 'bench-egress-'))
    let err = ''
    const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb() } })
    try {
      const r = await runBenchEgress({ quick: true, out }, { cwd: out, env: { PATH: process.env.PATH ?? '' }, stdout: sink(() => undefined), stderr: sink((s) => (err += s)) }, new AbortController().signal)
      expect(r.code, err).toBe(0)
      expect(r.report!.starts.none.n).toBe(4)
      expect(r.report!.starts.allow.n).toBe(4)
      for (const p of TRANSFER_PATHS) expect(r.report!.transfers.medianMibPerS[p]).toBeGreaterThan(0)
      expect(JSON.parse(readFileSync(join(out, 'egress.json'), 'utf8')).benchmark).toBe('egress')
      expect(readFileSync(join(out, 'egress.svg'), 'utf8')).toContain('<svg')
      expect(summaryRows(out).map((x) => x.experiment)).toEqual(expect.arrayContaining(['warm start, egress allow vs none (local)', 'CONNECT pass-through, 8 MiB']))
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  }, 300_000)
})
