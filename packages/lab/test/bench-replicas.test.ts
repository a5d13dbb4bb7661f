import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { postgresSkipReason } from '../src/bench/postgres-server.ts'
import { expectedDurationS } from '../src/bench/replicas-command.ts'
import { REPLICA_SETUPS, replicaPoolSize, setupOrder, type ReplicasPlan } from '../src/bench/replicas.ts'
import type { ReplicasReport } from '../src/bench/replicas-report.ts'
import { runCli } from '../src/cli/run-cli.test-util.ts'

let base: string
beforeEach(() => { base = mkdtempSync(join(tmpdir(), 'bench-replicas-test-')) })
afterEach(() => rmSync(base, { recursive: true, force: true }))

describe('bench replicas: plan', () => {
  it('rotates the setups by one per round, so every setup runs first once in five rounds', () => {
    const firsts = [0, 1, 2, 3, 4].map((r) => setupOrder(r)[0]!.name)
    expect(new Set(firsts).size).toBe(5)
    expect(setupOrder(1).map((s) => s.name)).toEqual(['postgres-1', 'postgres-2', 'postgres-3', 'postgres-3-unsplit', 'sqlite'])
  })

  it('splits the database connections among a setup\'s replicas, except the unsplit reference', () => {
    const byName = (n: string) => REPLICA_SETUPS.find((s) => s.name === n)!
    expect(replicaPoolSize(byName('postgres-1'), 8)).toBe(8)
    expect(replicaPoolSize(byName('postgres-2'), 8)).toBe(4)
    expect(replicaPoolSize(byName('postgres-3'), 8)).toBe(3)
    expect(replicaPoolSize(byName('postgres-3'), 1)).toBe(1)
    expect(replicaPoolSize(byName('postgres-3-unsplit'), 8)).toBe(8)
  })

  it('expects a longer run for more rounds and bigger pools', () => {
    const plan: ReplicasPlan = { rounds: 1, claims: 20, concurrency: 4, warmupClaims: 0, dbConnections: 8, warmStarts: 5, shellStarts: 0, poolSize: 24, warmPoolSize: 8, leaseRenewMs: 500 }
    expect(expectedDurationS({ ...plan, rounds: 6 })).toBeGreaterThan(expectedDurationS(plan))
    expect(expectedDurationS({ ...plan, poolSize: 300 })).toBeGreaterThan(expectedDurationS(plan))
    expect(expectedDurationS({ ...plan, shellStarts: 50 })).toBeGreaterThan(expectedDurationS(plan))
    expect(expectedDurationS({ ...plan, warmupClaims: 64 })).toBeGreaterThan(expectedDurationS(plan))
  })

  it('refuses a pool smaller than a burst (its last claims would be cold)', async () => {
    const r = await runCli(['bench', 'replicas', '--claims', '50', '--pool-size', '10', '--out', base], { cwd: base })
    if (postgresSkipReason()) return expect(r.stderr).toContain('skipped')
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--pool-size 10 is below --claims 50')
  })

  it('refuses a warm-up bigger than the pool', async () => {
    const r = await runCli(['bench', 'replicas', '--claims', '10', '--warmup-claims', '40', '--pool-size', '20', '--out', base], { cwd: base })
    if (postgresSkipReason()) return expect(r.stderr).toContain('skipped')
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--pool-size 20 is below --warmup-claims 40')
  })
})

const skip = postgresSkipReason()
describe.skipIf(skip !== undefined)(`bench replicas --quick end to end${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('runs SQLite and 1, 2 and 3 replicas on a throwaway PostgreSQL, every claim warm, warm starts to the first terminal byte on each store, and writes replicas.md and replicas.json with the ratios', async () => {
    const r = await runCli(['bench', 'replicas', '--quick', '--out', 'out'], { cwd: base })
    expect(r.stderr).toMatch(/expected duration about \d+ s/)
    expect(r.code).toBe(0)
    const report = JSON.parse(readFileSync(join(base, 'out/replicas.json'), 'utf8')) as ReplicasReport
    expect(report.setups.map((s) => [s.setup, s.replicas, s.dbPoolPerReplica])).toEqual([
      ['sqlite', 1, undefined], ['postgres-1', 1, 4], ['postgres-2', 2, 2], ['postgres-3', 3, 2], ['postgres-3-unsplit', 3, 4],
    ])
    for (const s of report.setups) {
      expect(s.failed).toBe(0)
      expect(s.warmShare).toBe(1)
      expect(s.claimsPerS).toHaveLength(1)
      expect(s.medianClaimsPerS).toBeGreaterThan(0)
    }
    expect(report.run.bursts.every((b) => b.latencyMs.length === 20)).toBe(true)
    // The database's own count: at least the claim's transaction for every claim on PostgreSQL, none for SQLite.
    expect(report.setups[0]!.walBytesPerClaim).toBeUndefined()
    // A claim writes a session, its sandbox, an audit entry and an event: hundreds of bytes of log at least.
    for (const s of report.setups.slice(1)) expect(s.walBytesPerClaim).toBeGreaterThan(200)
    // Each PostgreSQL burst counts the connections its replicas opened during it (after the warm-up: few or none).
    expect(report.setups[0]!.dbConnectionsOpened).toBeUndefined()
    for (const b of report.run.bursts.filter((x) => x.setup !== 'sqlite')) expect(b.dbConnectionsOpened).toBeGreaterThanOrEqual(0)
    expect(report.warm.map((w) => [w.setup, w.n, w.warmShare])).toEqual([['sqlite', 5, 1], ['postgres-1', 5, 1]])
    expect(report.scale!.ratio).toBeCloseTo(report.setups[3]!.medianClaimsPerS / report.setups[1]!.medianClaimsPerS, 6)
    expect(report.unsplitScale!.ratio).toBeCloseTo(report.setups[4]!.medianClaimsPerS / report.setups[1]!.medianClaimsPerS, 6)
    expect(report.postRatio!.ratio).toBeCloseTo(report.warm[1]!.postP50Ms / report.warm[0]!.postP50Ms, 6)
    // The warm start as a user sees it: real sandboxes, through a gateway process on each store.
    if (report.shellSkipped) {
      expect(report.shells).toEqual([])
      expect(readFileSync(join(base, 'out/replicas.md'), 'utf8')).toContain(`not measured: ${report.shellSkipped}`)
    } else {
      expect(report.shells.map((w) => [w.setup, w.n, w.warmShare])).toEqual([['sqlite', 3, 1], ['postgres-1', 3, 1]])
      expect(report.run.shellStarts.every((s) => s.totalMs >= s.postMs && s.postMs > 0 && s.byteMs >= 0)).toBe(true)
      expect(report.warmRatio!.ratio).toBeCloseTo(report.shells[1]!.totalP50Ms / report.shells[0]!.totalP50Ms, 6)
      expect(report.command).toContain('--shell-starts 3')
    }
    expect(report.command).toContain('npx infra-lab bench replicas --rounds 1 --claims 20 --concurrency 4 --warmup-claims 8 --db-connections 4')
    expect(report.plan.warmupClaims).toBe(8)
    const md = readFileSync(join(base, 'out/replicas.md'), 'utf8')
    expect(md).toContain('3 replicas vs 1 on PostgreSQL')
    expect(md).toContain('| postgres-3 | 3 | 2 |')
    expect(md).toContain('| postgres-3-unsplit | 3 | 4 |')
    expect(md).toContain('3 replicas each with all 4 connections vs 1')
    expect(md).toContain('an unmeasured one of 8 claims runs')
    expect(md).toMatch(/- Load: the 1-minute load average was [\d.]+ at the start/)
  }, 180_000)
})
