import { machineLine, type MachineInfo } from './machine.ts'
import { bootstrapRatioCi, median, quantile } from './ratio-ci.ts'
import { formatMs, formatRate, squeeze } from './report.ts'
import { REPLICA_SETUPS, replicaPoolSize, type ReplicasPlan, type ReplicasRun } from './replicas.ts'
import { SHELL_POOL_SIZE } from './replicas-shell.ts'

/** Claims per second of 3 replicas on PostgreSQL against one: the cost of coordination. */
export const SCALE_GOAL = 0.8
/** Warm start p50 on PostgreSQL against SQLite's (to the first terminal byte, as `bench startup` measures a warm start). */
export const WARM_GOAL = 1.5

export interface SetupSummary {
  readonly setup: string
  readonly replicas: number
  /** Each replica's store pool: connections to the database (PostgreSQL setups). */
  readonly dbPoolPerReplica?: number
  /** Claims per second of each round's burst, in round order. */
  readonly claimsPerS: readonly number[]
  readonly medianClaimsPerS: number
  readonly warmShare: number
  readonly failed: number
  readonly latencyP50Ms: number
  readonly latencyP99Ms: number
  /** Median over rounds of the write-ahead log bytes per claim (PostgreSQL setups). */
  readonly walBytesPerClaim?: number
  /** Median over rounds of the database connections opened during a burst (PostgreSQL setups). */
  readonly dbConnectionsOpened?: number
}

export interface RatioResult {
  readonly ratio: number
  readonly ci95: readonly [number, number]
  readonly goal: number
  readonly met: boolean
}

export interface ReplicasReport {
  readonly benchmark: 'replicas'
  readonly machine: MachineInfo
  readonly date: string
  readonly command: string
  readonly plan: ReplicasPlan
  readonly partial: boolean
  readonly load: { readonly cores: number; readonly atStart: number; readonly atEnd: number }
  readonly note?: string
  readonly setups: readonly SetupSummary[]
  /** The claim path alone: sequential POSTs on the fake driver. */
  readonly warm: readonly { readonly setup: string; readonly n: number; readonly postP50Ms: number; readonly postP95Ms: number; readonly claimP50Ms: number; readonly warmShare: number }[]
  /** Warm starts to the first terminal byte on the local driver (replicas-shell.ts). */
  readonly shells: readonly ShellSummary[]
  /** Why the shell starts were not run (no local driver here). */
  readonly shellSkipped?: string
  /** Median claims/s of postgres-3 over postgres-1, on the same database connections (goal >= SCALE_GOAL). */
  readonly scale?: RatioResult
  /** For reference: postgres-3-unsplit (each replica the whole connection budget) over postgres-1. */
  readonly unsplitScale?: RatioResult
  /** Warm start p50 (POST to the first terminal byte) on postgres-1 over sqlite (goal <= WARM_GOAL). */
  readonly warmRatio?: RatioResult
  /** The claim path alone: the POST's answer p50 on postgres-1 over sqlite, held to the same bound for reference. */
  readonly postRatio?: RatioResult
  readonly run: ReplicasRun
}

export interface ShellSummary {
  readonly setup: string
  readonly n: number
  readonly totalP50Ms: number
  readonly totalP95Ms: number
  readonly postP50Ms: number
  readonly openP50Ms: number
  readonly byteP50Ms: number
  readonly claimP50Ms: number
  readonly warmShare: number
}

export function buildReplicasReport(run: ReplicasRun, ctx: Omit<ReplicasReport, 'benchmark' | 'setups' | 'warm' | 'shells' | 'scale' | 'unsplitScale' | 'warmRatio' | 'postRatio' | 'run'>): ReplicasReport {
  const setups = REPLICA_SETUPS.map((s): SetupSummary => {
    const bursts = run.bursts.filter((b) => b.setup === s.name)
    const latencies = bursts.flatMap((b) => b.latencyMs)
    const claims = bursts.reduce((n, b) => n + b.claims, 0)
    return {
      setup: s.name, replicas: s.replicas, ...(s.store === 'postgres' ? { dbPoolPerReplica: replicaPoolSize(s, ctx.plan.dbConnections) } : {}),
      claimsPerS: bursts.map((b) => b.claimsPerS), medianClaimsPerS: median(bursts.map((b) => b.claimsPerS)),
      warmShare: claims > 0 ? bursts.reduce((n, b) => n + b.warm, 0) / claims : Number.NaN,
      failed: bursts.reduce((n, b) => n + b.failed, 0), latencyP50Ms: quantile(latencies, 0.5), latencyP99Ms: quantile(latencies, 0.99),
      ...(s.store === 'postgres' ? {
        walBytesPerClaim: median(bursts.flatMap((b) => (b.walBytesPerClaim !== undefined ? [b.walBytesPerClaim] : []))),
        dbConnectionsOpened: median(bursts.flatMap((b) => (b.dbConnectionsOpened !== undefined ? [b.dbConnectionsOpened] : []))),
      } : {}),
    }
  }).filter((s) => s.claimsPerS.length > 0)
  const warm = ['sqlite', 'postgres-1'].map((setup) => {
    const xs = run.warmStarts.filter((w) => w.setup === setup)
    return {
      setup, n: xs.length, postP50Ms: quantile(xs.map((w) => w.postMs), 0.5), postP95Ms: quantile(xs.map((w) => w.postMs), 0.95),
      claimP50Ms: quantile(xs.map((w) => w.claimMs), 0.5), warmShare: xs.length > 0 ? xs.filter((w) => w.warm).length / xs.length : Number.NaN,
    }
  }).filter((w) => w.n > 0)
  const shells = ['sqlite', 'postgres-1'].map((setup): ShellSummary => {
    const xs = run.shellStarts.filter((w) => w.setup === setup)
    const p50 = (f: (x: typeof xs[number]) => number) => quantile(xs.map(f), 0.5)
    return {
      setup, n: xs.length, totalP50Ms: p50((x) => x.totalMs), totalP95Ms: quantile(xs.map((x) => x.totalMs), 0.95), postP50Ms: p50((x) => x.postMs),
      openP50Ms: p50((x) => x.openMs), byteP50Ms: p50((x) => x.byteMs), claimP50Ms: p50((x) => x.claimMs),
      warmShare: xs.length > 0 ? xs.filter((x) => x.warm).length / xs.length : Number.NaN,
    }
  }).filter((w) => w.n > 0)
  const totals = (name: string) => run.shellStarts.filter((w) => w.setup === name).map((w) => w.totalMs)
  const rates = (name: string) => run.bursts.filter((b) => b.setup === name).map((b) => b.claimsPerS)
  const posts = (name: string) => run.warmStarts.filter((w) => w.setup === name).map((w) => w.postMs)
  const ratio = (a: readonly number[], b: readonly number[], goal: number, atLeast: boolean): RatioResult | undefined => {
    if (a.length === 0 || b.length === 0) return undefined
    const r = median(a) / median(b)
    return { ratio: r, ci95: bootstrapRatioCi(a, b), goal, met: atLeast ? r >= goal : r <= goal }
  }
  const scale = ratio(rates('postgres-3'), rates('postgres-1'), SCALE_GOAL, true)
  const unsplitScale = ratio(rates('postgres-3-unsplit'), rates('postgres-1'), SCALE_GOAL, true)
  const warmRatio = ratio(totals('postgres-1'), totals('sqlite'), WARM_GOAL, false)
  const postRatio = ratio(posts('postgres-1'), posts('sqlite'), WARM_GOAL, false)
  return { benchmark: 'replicas', ...ctx, setups, warm, shells, ...(scale ? { scale } : {}), ...(unsplitScale ? { unsplitScale } : {}), ...(warmRatio ? { warmRatio } : {}), ...(postRatio ? { postRatio } : {}), run }
}

const pct = (v: number) => (Number.isFinite(v) ? `${Math.round(v * 100)} %` : 'n/a')
/** The claim path's ratio, held to the warm start's bound for reference, with the difference it comes from. */
function postLine(r: ReplicasReport): string {
  const q = r.postRatio
  if (!q) return ''
  const [sqlite, pg] = [r.warm.find((w) => w.setup === 'sqlite'), r.warm.find((w) => w.setup === 'postgres-1')]
  const diff = sqlite && pg ? `; PostgreSQL adds ${formatMs(pg.postP50Ms - sqlite.postP50Ms)} ms at the median, a round trip to the database and its function's work` : ''
  return `- The claim path alone (the POST's answer, fake driver: no sandbox work), PostgreSQL vs SQLite: **${q.ratio.toFixed(2)}** (95 % bootstrap interval ${q.ci95[0].toFixed(2)}–${q.ci95[1].toFixed(2)}); held to the same bound for reference: ${q.met ? 'within it' : '**beyond it**'}${diff}.`
}

/** Why the burst follows an unmeasured one: what a burst on replicas just started would pay for, and only some setups. */
function warmupLine(claims: number): string {
  if (claims === 0) return 'No warm-up: each burst is the gateways\' first traffic, so replicas open their database connections during it.'
  return `Before each measured burst an unmeasured one of ${claims} claims runs, its sessions are ended and the pool is full again: every `
    + 'replica has opened its database connections (a server process each, whose first claim also plans the claim function) as a replica '
    + 'that has been serving has. Without it, a lone gateway\'s connections were open from its pool\'s fill while the followers opened '
    + 'theirs during the burst, on its clock.'
}

const ratioLine = (r: RatioResult | undefined, what: string, goal: string) =>
  r ? `- ${what}: **${r.ratio.toFixed(2)}** (95 % bootstrap interval ${r.ci95[0].toFixed(2)}–${r.ci95[1].toFixed(2)}); goal ${goal}: ${r.met ? 'met' : '**not met**'}.` : `- ${what}: not measured.`

export function renderReplicasMarkdown(r: ReplicasReport): string {
  const p = r.plan
  return squeeze([
    '# Gateway replicas on PostgreSQL vs SQLite\'s single process',
    '',
    r.partial ? '**Partial run (interrupted); the rounds taken are below.**\n' : '',
    `Claims per second: ${p.claims} creates from ${p.concurrency} concurrent clients, spread round-robin over the replicas, against a pool of ${p.poolSize}`,
    'pre-filled warm fake sandboxes (fake driver: a claim costs the store, the gateway and one agent round trip, no process start).',
    'Every replica is a full gateway (its own HTTP server, store connections, lease keeper and channels to every warm agent) in this one',
    `process, so replicas add coordination, not CPU. Each of ${p.rounds} round(s) runs every setup once, in an order rotated by one per round,`,
    `each on a fresh store (lease renewal ${p.leaseRenewMs} ms). ${warmupLine(p.warmupClaims)}`,
    `The replicas of a setup share ${p.dbConnections} database connections: each replica's store pool is its share, rounded up, so the`,
    'database serves as many connections at once with three replicas as with one and the ratio is the cost of coordination; `postgres-3-unsplit`',
    `gives each of its three replicas all ${p.dbConnections}, for reference: on a small machine that runs the database too, connections beyond`,
    'its cores cost every claim.',
    '',
    `Warm start, as \`bench startup\` measures it: ${p.shellStarts} sequential starts per round on each store, POST /v1/sessions to the first`,
    `byte of the shell's prompt on the terminal's WebSocket, on real sandboxes (local driver), through a gateway running as its own process`,
    `on SQLite or on a fresh PostgreSQL database (one replica), with a pool of ${SHELL_POOL_SIZE} full again before each start; the stores' order alternates by round.`,
    `The claim path alone: ${p.warmStarts} sequential creates per round on sqlite and postgres-1 (fake driver, in this process), each on a fresh`,
    `store with a pool of ${p.warmPoolSize}, full again before each create: the client-seen POST /v1/sessions answer and the gateway's claimMs.`,
    '',
    '## Result',
    '',
    ratioLine(r.scale, '3 replicas vs 1 on PostgreSQL, median claims/s (the same database connections)', `>= ${SCALE_GOAL}`),
    r.unsplitScale
      ? `- For reference, 3 replicas each with all ${p.dbConnections} connections vs 1: **${r.unsplitScale.ratio.toFixed(2)}** (95 % bootstrap interval ${r.unsplitScale.ci95[0].toFixed(2)}–${r.unsplitScale.ci95[1].toFixed(2)}).`
      : '',
    r.shellSkipped && !r.warmRatio
      ? `- Warm start p50, PostgreSQL vs SQLite: not measured: ${r.shellSkipped}.`
      : ratioLine(r.warmRatio, 'Warm start p50 (POST to the first terminal byte), PostgreSQL vs SQLite', `<= ${WARM_GOAL}`),
    postLine(r),
    '',
    '## Claims per second',
    '',
    '| setup | replicas | DB pool per replica | median claims/s | each round | warm | failed | latency p50 ms | p99 ms | WAL bytes per claim | DB connections opened |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...r.setups.map((s) => `| ${s.setup} | ${s.replicas} | ${s.dbPoolPerReplica ?? '–'} | ${formatRate(s.medianClaimsPerS)} | ${s.claimsPerS.map((v) => formatRate(v)).join(', ')} | ${pct(s.warmShare)} | ${s.failed} | ${formatMs(s.latencyP50Ms)} | ${formatMs(s.latencyP99Ms)} | ${s.walBytesPerClaim !== undefined ? Math.round(s.walBytesPerClaim).toLocaleString('en-US') : '–'} | ${s.dbConnectionsOpened !== undefined && Number.isFinite(s.dbConnectionsOpened) ? s.dbConnectionsOpened : '–'} |`),
    '',
    'WAL bytes per claim: the write-ahead log PostgreSQL wrote from a burst\'s start to its end (`pg_current_wal_lsn()`), per',
    'claim: every replica\'s writes in that time (the claims, sessions turning running, refills, lease renewals); reads do not show.',
    'DB connections opened: the database\'s connections (`pg_stat_activity`) at the burst\'s end less those at its start, median over rounds.',
    '',
    '## Warm start',
    '',
    'To the first terminal byte (local driver); the steps are each one\'s own p50 (they need not add up to the total\'s).',
    '',
    '| setup | n | p50 ms | p95 ms | POST p50 | WebSocket open p50 | first byte p50 | claimMs p50 | warm |',
    '|---|---|---|---|---|---|---|---|---|',
    ...(r.shells.length > 0
      ? r.shells.map((w) => `| ${w.setup} | ${w.n} | ${formatMs(w.totalP50Ms)} | ${formatMs(w.totalP95Ms)} | ${formatMs(w.postP50Ms)} | ${formatMs(w.openP50Ms)} | ${formatMs(w.byteP50Ms)} | ${formatMs(w.claimP50Ms)} | ${pct(w.warmShare)} |`)
      : [`| not measured${r.shellSkipped ? `: ${r.shellSkipped}` : ''} | | | | | | | | |`]),
    '',
    'The claim path alone (fake driver):',
    '',
    '| setup | n | POST p50 ms | POST p95 ms | claimMs p50 | warm |',
    '|---|---|---|---|---|---|',
    ...r.warm.map((w) => `| ${w.setup} | ${w.n} | ${formatMs(w.postP50Ms)} | ${formatMs(w.postP95Ms)} | ${formatMs(w.claimP50Ms)} | ${pct(w.warmShare)} |`),
    '',
    'Raw data (every burst\'s latencies, every warm start): [replicas.json](replicas.json).',
    '',
    '## Provenance',
    '',
    `- Machine: ${machineLine(r.machine)}`,
    `- Date: ${r.date}`,
    `- Command: \`${r.command}\``,
    `- Load: the 1-minute load average was ${r.load.atStart} at the start and ${r.load.atEnd} at the end of this run, on ${r.load.cores} cores.`,
    r.note ? `- Note: ${r.note}` : '',
    '',
  ])
}
