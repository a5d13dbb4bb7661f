import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pino } from 'pino'
import { LabClient } from '../client/client.ts'
import { loadGatewayConfig } from '../config/load.ts'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { startGateway, type StartedGateway } from '../gateway/gateway.ts'
import { newSecretToken } from '../gateway/auth.ts'
import type { PgServer } from './postgres-server.ts'
import { median } from './ratio-ci.ts'
import { shellStarts, type ShellStart } from './replicas-shell.ts'
import { waitForReady } from './startup.ts'

/** One control plane under test: SQLite's single process, or N replicas on one PostgreSQL database. */
export interface ReplicasSetup {
  readonly name: string
  readonly store: 'sqlite' | 'postgres'
  readonly replicas: number
  /**
   * Each replica's store pool is the whole `dbConnections` budget rather than its share of it:
   * the database serves replicas x budget connections (over-subscribed on a small machine).
   */
  readonly unsplit?: boolean
}

export const REPLICA_SETUPS: readonly ReplicasSetup[] = [
  { name: 'sqlite', store: 'sqlite', replicas: 1 },
  { name: 'postgres-1', store: 'postgres', replicas: 1 },
  { name: 'postgres-2', store: 'postgres', replicas: 2 },
  { name: 'postgres-3', store: 'postgres', replicas: 3 },
  { name: 'postgres-3-unsplit', store: 'postgres', replicas: 3, unsplit: true },
]

/** A replica's store pool (connections to the database) in a setup: its share of the budget, at least one. */
export function replicaPoolSize(setup: ReplicasSetup, dbConnections: number): number {
  return setup.unsplit ? dbConnections : Math.max(1, Math.ceil(dbConnections / setup.replicas))
}

export interface ReplicasPlan {
  /** Rounds; each runs every setup once, in an order rotated by one per round. */
  readonly rounds: number
  /** Claims per burst, spread round-robin over the replicas. */
  readonly claims: number
  /** Clients claiming at once during a burst. */
  readonly concurrency: number
  /**
   * Claims of an unmeasured burst before each measured one (their sessions ended and the pool full
   * again after it; 0: none): every replica's database connections are open and have run the claim
   * once, as on a replica that has been serving, so no setup's burst pays for opening them.
   */
  readonly warmupClaims: number
  /**
   * The database connections the replicas of a setup share: each replica's store pool is its
   * share (rounded up), so adding replicas adds coordination, not connections for the database
   * to serve at once (`unsplit` setups aside).
   */
  readonly dbConnections: number
  /** Sequential warm starts per round on sqlite and postgres-1 (0: none). */
  readonly warmStarts: number
  /** Sequential warm starts to the first terminal byte per round on sqlite and postgres-1, on the local driver (0: none; replicas-shell.ts). */
  readonly shellStarts: number
  /** The pool's fixed size: at least `claims`, so every claim of a burst finds a warm sandbox. */
  readonly poolSize: number
  /** The pool's size for the warm starts (sequential, so a few sandboxes stay ahead of them). */
  readonly warmPoolSize: number
  readonly leaseRenewMs: number
}

/** One burst of claims on one setup. */
export interface ClaimBurst {
  readonly setup: string
  readonly round: number
  readonly claims: number
  readonly warm: number
  readonly failed: number
  /** The first failed create's message, if any failed. */
  readonly firstError?: string
  readonly elapsedMs: number
  readonly claimsPerS: number
  /** Client-seen POST /v1/sessions answers, ms. */
  readonly latencyMs: readonly number[]
  /**
   * PostgreSQL only: the bytes of write-ahead log the database wrote from the burst's start to
   * its end (`pg_current_wal_lsn()`), per successful claim: every write of every replica in that
   * time (the claims, sessions turning running, refills, lease renewals), read at once (the
   * server's statistics views lag by up to their flush interval).
   */
  readonly walBytesPerClaim?: number
  /** PostgreSQL only: connections to the database opened during the burst (`pg_stat_activity`), every replica's together. */
  readonly dbConnectionsOpened?: number
}

/** One sequential warm start: the client-seen POST /v1/sessions round trip and the gateway's claimMs. */
export interface WarmStart {
  readonly setup: string
  readonly round: number
  readonly postMs: number
  readonly claimMs: number
  readonly warm: boolean
}

export interface ReplicasRun {
  readonly bursts: ClaimBurst[]
  readonly warmStarts: WarmStart[]
  readonly shellStarts: ShellStart[]
}

/** The setups in round `round`'s order: rotated by one per round, so none always runs first. */
export function setupOrder(round: number, setups: readonly ReplicasSetup[] = REPLICA_SETUPS): ReplicasSetup[] {
  const k = round % setups.length
  return [...setups.slice(k), ...setups.slice(0, k)]
}

/** Every setup, `plan.rounds` times, interleaved; each segment starts its gateways on a fresh store and stops them. */
export async function runReplicasBench(plan: ReplicasPlan, pg: PgServer, progress: (line: string) => void, signal: AbortSignal): Promise<ReplicasRun> {
  const run: ReplicasRun = { bursts: [], warmStarts: [], shellStarts: [] }
  let seq = 0
  const segment = async <T>(setup: ReplicasSetup, poolSize: number, body: (s: Segment) => Promise<T>): Promise<T> => {
    const s = await startSegment(setup, { ...plan, poolSize }, pg, `replicas_${process.pid}_${seq++}`)
    try {
      await s.filled()
      return await body(s)
    } finally {
      await s.stop()
    }
  }
  for (let round = 0; round < plan.rounds; round++) {
    for (const setup of setupOrder(round)) {
      if (signal.aborted) return run
      const burst = await segment(setup, plan.poolSize, async (s) => {
        if (plan.warmupClaims > 0) {
          const w = await claimBurst(s.clients, { ...plan, claims: plan.warmupClaims })
          if (w.failed > 0) throw new Error(`${setup.name}: ${w.failed} of the warm-up's ${plan.warmupClaims} claims failed: ${w.firstError}`)
          await s.endAll(w.ids)
          await s.filled()
        }
        const before = await s.database()
        const b = await claimBurst(s.clients, plan)
        const after = before === undefined ? undefined : await s.database()
        const { ids, ...measured } = b
        run.bursts.push({
          setup: setup.name, round, ...measured,
          ...(before && after ? {
            ...(ids.length > 0 ? { walBytesPerClaim: (after.walBytes - before.walBytes) / ids.length } : {}),
            dbConnectionsOpened: Math.max(0, after.connections - before.connections),
          } : {}),
        })
        return b
      })
      progress(`round ${round + 1}/${plan.rounds} ${setup.name}: ${Math.round(burst.claimsPerS)} claims/s (${burst.warm}/${burst.claims} warm, ${burst.failed} failed${burst.firstError ? `: ${burst.firstError}` : ''})`)
      // Warm starts on a pool of the startup benchmark's size, not the burst's: each claim's
      // refill reads the pool's warm rows, and a pool of hundreds would weigh on every one.
      if (plan.warmStarts > 0 && setup.replicas === 1 && !signal.aborted) {
        await segment(setup, plan.warmPoolSize, async (s) => {
          // As the startup benchmark does: the pool is full again before each start, so neither
          // the refill nor the last session's teardown overlaps the start measured.
          for (let i = 0; i < plan.warmStarts && !signal.aborted; i++) {
            await waitForReady(s.clients[0]!, 'default', plan.warmPoolSize)
            run.warmStarts.push({ setup: setup.name, round, ...(await warmStart(s.clients[0]!)) })
          }
        })
      }
    }
    // The warm start a user sees, on real sandboxes: both stores each round, in alternating order.
    if (plan.shellStarts > 0) {
      const stores: ShellStart['setup'][] = round % 2 === 0 ? ['sqlite', 'postgres-1'] : ['postgres-1', 'sqlite']
      for (const setup of stores) {
        if (signal.aborted) return run
        const got = await shellStarts(setup, { round, starts: plan.shellStarts, pg, database: `replicas_${process.pid}_${seq++}`, dbConnections: plan.dbConnections, signal })
        run.shellStarts.push(...got)
        progress(`round ${round + 1}/${plan.rounds} ${setup}: ${got.length} warm starts to the first terminal byte, p50 ${got.length > 0 ? median(got.map((x) => x.totalMs)).toFixed(2) : 'n/a'} ms`)
      }
    }
  }
  return run
}

interface Segment {
  readonly clients: LabClient[]
  /** Waits until the store holds the pool's size warm and every replica serves them (its channels open). */
  filled(): Promise<void>
  endAll(ids: readonly string[]): Promise<void>
  /**
   * PostgreSQL (undefined on SQLite), in one read: the write-ahead log's position in bytes, and the
   * connections to the segment's database now, every replica's (listeners included).
   */
  database(): Promise<{ walBytes: number; connections: number } | undefined>
  stop(): Promise<void>
}

async function startSegment(setup: ReplicasSetup, plan: ReplicasPlan, pg: PgServer, database: string): Promise<Segment> {
  const driver = new FakeDriver()
  const url = setup.store === 'postgres' ? await pg.createDatabase(database) : undefined
  const apiKey = `bench_${newSecretToken(18)}`
  const gateways: (StartedGateway & { dataDir: string })[] = []
  try {
    for (let i = 0; i < setup.replicas; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'infra-lab-bench-replicas-'))
      const configFile = join(dataDir, 'config.json')
      writeFileSync(configFile, JSON.stringify({
        driver: 'fake', replicaId: `${setup.name}-r${i + 1}`, leaseRenewMs: plan.leaseRenewMs,
        ...(url ? { store: { url, poolSize: replicaPoolSize(setup, plan.dbConnections) } } : {}),
        pools: [{
          name: 'default', policy: { kind: 'fixed', size: plan.poolSize }, maxSize: plan.poolSize + plan.concurrency,
          maxConcurrentCreates: 16, maxCreatesPerMin: 100_000,
        }],
      }))
      const loaded = loadGatewayConfig({ config: configFile, dataDir, port: 0 }, { INFRA_LAB_API_KEY: apiKey }, dataDir)
      if (!loaded.ok) throw new Error(loaded.errors.join('; '))
      const gw = await startGateway({ config: loaded.config, logger: pino({ level: 'silent' }), makeDriver: async () => driver })
      gateways.push(Object.assign(gw, { dataDir }))
    }
  } catch (err) {
    await stopAll(gateways, driver)
    throw err
  }
  const clients = gateways.map((g) => new LabClient(g.url, apiKey))
  return {
    clients,
    async filled() {
      const deadline = Date.now() + 120_000
      const ready = () => gateways.every((g) => g.pools.get('default')!.controller.status().ready >= plan.poolSize)
      while (!ready() || (await gateways[0]!.store.countSandboxes('default')).warm < plan.poolSize) {
        if (Date.now() > deadline) throw new Error(`${setup.name}: the pool did not fill to ${plan.poolSize} within 120 s`)
        await new Promise((r) => setTimeout(r, 20))
      }
      // A follower opens its channels to the warm sandboxes after it counts them: let those settle.
      if (setup.replicas > 1) await new Promise((r) => setTimeout(r, 2 * Math.min(plan.leaseRenewMs, 1000)))
    },
    async endAll(ids) {
      let next = 0
      const worker = async () => {
        for (let i = next++; i < ids.length; i = next++) await clients[i % clients.length]!.deleteSession(ids[i]!).catch(() => undefined)
      }
      await Promise.all(Array.from({ length: Math.min(8, ids.length) }, worker))
    },
    async database() {
      if (!url) return undefined
      const out = await pg.psql('postgres', `SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, (SELECT count(*) FROM pg_stat_activity WHERE datname = '${database}')`)
      const [walBytes, connections] = out.trim().split('|').map(Number)
      return { walBytes: walBytes!, connections: connections! }
    },
    stop: () => stopAll(gateways, driver),
  }
}

async function stopAll(gateways: readonly (StartedGateway & { dataDir: string })[], driver: FakeDriver): Promise<void> {
  for (const g of gateways) await g.stop().catch(() => undefined)
  await driver.teardown()
  for (const g of gateways) rmSync(g.dataDir, { recursive: true, force: true })
}

/** `plan.claims` creates from `plan.concurrency` clients, round-robin over the replicas, timed from the first to the last answer. */
async function claimBurst(clients: readonly LabClient[], plan: ReplicasPlan): Promise<Omit<ClaimBurst, 'setup' | 'round'> & { ids: string[] }> {
  const ids: string[] = []
  const latencyMs: number[] = []
  let warm = 0
  let failed = 0
  let firstError: string | undefined
  let next = 0
  // A user per claim: the per-user session limit never shapes the burst.
  const worker = async () => {
    for (let i = next++; i < plan.claims; i = next++) {
      const t = performance.now()
      try {
        const s = await clients[i % clients.length]!.createSession({ user: `bench-${i}`, pool: 'default' })
        latencyMs.push(performance.now() - t)
        ids.push(s.id)
        if (s.warm) warm++
      } catch (err) {
        failed++
        firstError ??= (err as Error).message
      }
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: plan.concurrency }, worker))
  const elapsedMs = performance.now() - t0
  return { claims: plan.claims, warm, failed, ...(firstError ? { firstError } : {}), elapsedMs, claimsPerS: ids.length / (elapsedMs / 1000), latencyMs, ids }
}

async function warmStart(client: LabClient): Promise<Omit<WarmStart, 'setup' | 'round'>> {
  const t = performance.now()
  const s = await client.createSession({ user: 'bench-warm', pool: 'default' })
  const postMs = performance.now() - t
  await client.deleteSession(s.id)
  return { postMs, claimMs: s.timings.claimMs ?? Number.NaN, warm: s.warm }
}
