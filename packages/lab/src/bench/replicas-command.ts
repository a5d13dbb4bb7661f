import { loadavg } from 'node:os'
import { resolve } from 'node:path'
import type { CliIo, ExitCode } from '../io.ts'
import { realProbeEnv, startupDriverUnavailable, type ProbeEnv } from './driver-probe.ts'
import { machineInfo } from './machine.ts'
import { postgresSkipReason, startPostgres, type PgServer } from './postgres-server.ts'
import { writeResult } from './report.ts'
import { SHELL_USERS } from './replicas-shell.ts'
import { REPLICA_SETUPS, runReplicasBench, type ReplicasPlan, type ReplicasRun } from './replicas.ts'
import { buildReplicasReport, renderReplicasMarkdown, type ReplicasReport } from './replicas-report.ts'

export interface BenchReplicasFlags {
  readonly rounds?: number
  readonly claims?: number
  readonly concurrency?: number
  readonly warmupClaims?: number
  readonly dbConnections?: number
  readonly warmStarts?: number
  readonly shellStarts?: number
  readonly poolSize?: number
  readonly leaseRenewMs?: number
  /** Small sizes everywhere: a check that the benchmark runs, not a measurement to publish. */
  readonly quick?: boolean
  readonly note?: string
  readonly out: string
  readonly json?: boolean
}

export interface ReplicasOutcome {
  readonly code: ExitCode
  readonly report?: ReplicasReport
  readonly skipped?: string
  readonly files?: readonly string[]
}

const FULL = { rounds: 10, claims: 300, concurrency: 8, warmupClaims: 64, dbConnections: 8, warmStarts: 60, shellStarts: 30, leaseRenewMs: 1000 }
const QUICK = { rounds: 1, claims: 20, concurrency: 4, warmupClaims: 8, dbConnections: 4, warmStarts: 5, shellStarts: 3, leaseRenewMs: 500 }

/**
 * What one segment (a setup's gateways started on a fresh store, filled, measured, stopped) costs
 * beyond its claims, in seconds, and per sandbox of its fills: from runs on a loaded 2-core
 * machine, for the duration printed up front.
 */
const SEGMENT_S = 2
const FILL_S_PER_SANDBOX = 0.005
const WARM_START_S = 0.01
/** A shell start on the local driver, with the refill of its sandbox before the next (about 0.2 s on two cores). */
const SHELL_START_S = 0.3
/** A gateway process's start and its pool's first fill, and its stop with the teardown. */
const SHELL_SEGMENT_S = 4
/** The warm starts' pool: as small as a pool for sequential starts can be and stay warm. */
const WARM_POOL_SIZE = 8
/** initdb and the server's start. */
const POSTGRES_START_S = 5

/** The duration of a plan, roughly: printed before the run so its length is no surprise. */
export function expectedDurationS(plan: ReplicasPlan): number {
  const segments = plan.rounds * REPLICA_SETUPS.length
  // The pool's fill, and its refill after the warm-up burst (whose claims cost about a warm start each).
  const fills = segments * (plan.poolSize + plan.warmupClaims) * FILL_S_PER_SANDBOX + plan.rounds * 2 * (SEGMENT_S + plan.warmPoolSize * FILL_S_PER_SANDBOX)
    + segments * plan.warmupClaims * WARM_START_S
  const settles = plan.rounds * REPLICA_SETUPS.filter((s) => s.replicas > 1).length * (plan.warmupClaims > 0 ? 2 : 1) * 2 * Math.min(plan.leaseRenewMs, 1000) / 1000
  const warm = plan.rounds * 2 * plan.warmStarts * WARM_START_S
  const shells = plan.shellStarts > 0 ? plan.rounds * 2 * (SHELL_SEGMENT_S + (plan.shellStarts + SHELL_USERS) * SHELL_START_S) : 0
  // The wait for the database's statistics after each PostgreSQL burst.
  const stats = plan.rounds * REPLICA_SETUPS.filter((s) => s.store === 'postgres').length * 1.1
  return Math.ceil(POSTGRES_START_S + segments * SEGMENT_S + fills + settles + warm + shells + stats)
}

/** `infra-lab bench replicas`: claims per second of 1, 2 and 3 replicas on one PostgreSQL database and of SQLite's single process, and warm start on each store. */
export async function benchReplicasCommand(flags: BenchReplicasFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  return (await runBenchReplicas(flags, io, signal)).code
}

export async function runBenchReplicas(flags: BenchReplicasFlags, io: CliIo, signal: AbortSignal, probe: ProbeEnv = realProbeEnv(io.env)): Promise<ReplicasOutcome> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const why = postgresSkipReason()
  if (why) {
    log(`infra-lab bench replicas: skipped: ${why}`)
    return { code: 0, skipped: why }
  }
  const base = flags.quick ? QUICK : FULL
  const claims = flags.claims ?? base.claims
  const concurrency = flags.concurrency ?? base.concurrency
  // The shell starts run real sandboxes: without the local driver here they are left out, and the report says why.
  const shellSkipped = await startupDriverUnavailable('local', probe)
  const wantedShells = flags.shellStarts ?? base.shellStarts
  if (shellSkipped && wantedShells > 0) log(`infra-lab bench replicas: warm starts to the first terminal byte skipped: ${shellSkipped}`)
  const plan: ReplicasPlan = {
    rounds: flags.rounds ?? base.rounds, claims, concurrency, warmupClaims: flags.warmupClaims ?? base.warmupClaims,
    dbConnections: flags.dbConnections ?? base.dbConnections, warmStarts: flags.warmStarts ?? base.warmStarts,
    shellStarts: shellSkipped ? 0 : wantedShells,
    // Room for every claim of a burst, and the burst's clients, warm.
    poolSize: flags.poolSize ?? claims + concurrency, warmPoolSize: WARM_POOL_SIZE, leaseRenewMs: flags.leaseRenewMs ?? base.leaseRenewMs,
  }
  if (plan.poolSize < plan.claims) {
    log(`infra-lab bench replicas: --pool-size ${plan.poolSize} is below --claims ${plan.claims}: the burst's last claims would be cold`)
    return { code: 2 }
  }
  if (plan.poolSize < plan.warmupClaims) {
    log(`infra-lab bench replicas: --pool-size ${plan.poolSize} is below --warmup-claims ${plan.warmupClaims}: the warm-up's last claims would be cold, and beyond the pool's maximum refused`)
    return { code: 2 }
  }
  const command = [
    'npx infra-lab bench replicas', `--rounds ${plan.rounds}`, `--claims ${plan.claims}`, `--concurrency ${plan.concurrency}`, `--warmup-claims ${plan.warmupClaims}`, `--db-connections ${plan.dbConnections}`,
    `--warm-starts ${plan.warmStarts}`, `--shell-starts ${plan.shellStarts}`, `--pool-size ${plan.poolSize}`, `--lease-renew-ms ${plan.leaseRenewMs}`, `--out ${flags.out}`,
    ...(flags.note ? [`--note ${JSON.stringify(flags.note)}`] : []),
  ].join(' ')
  const loadAtStart = loadavg()[0]!
  log(`infra-lab bench replicas: ${plan.rounds} round(s) of ${REPLICA_SETUPS.map((s) => s.name).join(', ')}: ${plan.claims} claims from ${plan.concurrency} clients (after ${plan.warmupClaims} unmeasured), pool of ${plan.poolSize}, ${plan.warmStarts} warm starts (POST) and ${plan.shellStarts} to the first terminal byte (local driver) per round on sqlite and postgres-1; expected duration about ${expectedDurationS(plan)} s`)
  let pg: PgServer | undefined
  let run: ReplicasRun = { bursts: [], warmStarts: [], shellStarts: [] }
  try {
    pg = await startPostgres()
    run = await runReplicasBench(plan, pg, (line) => log(`  ${line}`), signal)
  } catch (err) {
    log(`infra-lab bench replicas: ${(err as Error).message}`)
    return { code: signal.aborted ? 130 : 1 }
  } finally {
    await pg?.remove()
  }
  const machine = machineInfo()
  const report = buildReplicasReport(run, {
    machine, date: new Date().toISOString(), command, plan, partial: signal.aborted,
    load: { cores: machine.cores, atStart: round2(loadAtStart), atEnd: round2(loadavg()[0]!) },
    ...(flags.note ? { note: flags.note } : {}),
    ...(shellSkipped && wantedShells > 0 ? { shellSkipped } : {}),
  })
  const md = renderReplicasMarkdown(report)
  const files = Object.values(writeResult(resolve(io.cwd, flags.out), 'replicas', md, report))
  if (flags.json) io.stdout.write(`${JSON.stringify(report)}\n`)
  else io.stdout.write(`${md}\nwritten: ${files.join(', ')}\n`)
  return { code: signal.aborted ? 130 : 0, report, files }
}

const round2 = (v: number) => Math.round(v * 100) / 100
