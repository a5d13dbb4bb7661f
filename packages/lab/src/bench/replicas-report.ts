import { machineLine, type MachineInfo } from './machine.ts'
import { bootstrapRatioCi, median, quantile } from './ratio-ci.ts'
import { formatMs, formatRate, squeeze } from './report.ts'
import { REPLICA_SETUPS, type ReplicasPlan, type ReplicasRun } from './replicas.ts'

/** Claims per second of 3 replicas on PostgreSQL against one: the cost of coordination. */
export const SCALE_GOAL = 0.8
/** Warm start p50 on PostgreSQL against SQLite's. */
export const WARM_GOAL = 1.5

export interface SetupSummary {
  readonly setup: string
  readonly replicas: number
  /** Claims per second of each round's burst, in round order. */
  readonly claimsPerS: readonly number[]
  readonly medianClaimsPerS: number
  readonly warmShare: number
  readonly failed: number
  readonly latencyP50Ms: number
  readonly latencyP99Ms: number
  /** Median over rounds of the write-ahead log bytes per claim (PostgreSQL setups). */
  readonly walBytesPerClaim?: number
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
  readonly warm: readonly { readonly setup: string; readonly n: number; readonly postP50Ms: number; readonly postP95Ms: number; readonly claimP50Ms: number; readonly warmShare: number }[]
  /** Median claims/s of postgres-3 over postgres-1 (goal >= SCALE_GOAL). */
  readonly scale?: RatioResult
  /** Warm POST p50 on postgres-1 over sqlite (goal <= WARM_GOAL). */
  readonly warmRatio?: RatioResult
  readonly run: ReplicasRun
}

export function buildReplicasReport(run: ReplicasRun, ctx: Omit<ReplicasReport, 'benchmark' | 'setups' | 'warm' | 'scale' | 'warmRatio' | 'run'>): ReplicasReport {
  const setups = REPLICA_SETUPS.map((s): SetupSummary => {
    const bursts = run.bursts.filter((b) => b.setup === s.name)
    const latencies = bursts.flatMap((b) => b.latencyMs)
    const claims = bursts.reduce((n, b) => n + b.claims, 0)
    return {
      setup: s.name, replicas: s.replicas, claimsPerS: bursts.map((b) => b.claimsPerS), medianClaimsPerS: median(bursts.map((b) => b.claimsPerS)),
      warmShare: claims > 0 ? bursts.reduce((n, b) => n + b.warm, 0) / claims : Number.NaN,
      failed: bursts.reduce((n, b) => n + b.failed, 0), latencyP50Ms: quantile(latencies, 0.5), latencyP99Ms: quantile(latencies, 0.99),
      ...(s.store === 'postgres' ? { walBytesPerClaim: median(bursts.flatMap((b) => (b.walBytesPerClaim !== undefined ? [b.walBytesPerClaim] : []))) } : {}),
    }
  }).filter((s) => s.claimsPerS.length > 0)
  const warm = ['sqlite', 'postgres-1'].map((setup) => {
    const xs = run.warmStarts.filter((w) => w.setup === setup)
    return {
      setup, n: xs.length, postP50Ms: quantile(xs.map((w) => w.postMs), 0.5), postP95Ms: quantile(xs.map((w) => w.postMs), 0.95),
      claimP50Ms: quantile(xs.map((w) => w.claimMs), 0.5), warmShare: xs.length > 0 ? xs.filter((w) => w.warm).length / xs.length : Number.NaN,
    }
  }).filter((w) => w.n > 0)
  const rates = (name: string) => run.bursts.filter((b) => b.setup === name).map((b) => b.claimsPerS)
  const posts = (name: string) => run.warmStarts.filter((w) => w.setup === name).map((w) => w.postMs)
  const ratio = (a: readonly number[], b: readonly number[], goal: number, atLeast: boolean): RatioResult | undefined => {
    if (a.length === 0 || b.length === 0) return undefined
    const r = median(a) / median(b)
    return { ratio: r, ci95: bootstrapRatioCi(a, b), goal, met: atLeast ? r >= goal : r <= goal }
  }
  const scale = ratio(rates('postgres-3'), rates('postgres-1'), SCALE_GOAL, true)
  const warmRatio = ratio(posts('postgres-1'), posts('sqlite'), WARM_GOAL, false)
  return { benchmark: 'replicas', ...ctx, setups, warm, ...(scale ? { scale } : {}), ...(warmRatio ? { warmRatio } : {}), run }
}

const pct = (v: number) => (Number.isFinite(v) ? `${Math.round(v * 100)} %` : 'n/a')
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
    `each on a fresh store (lease renewal ${p.leaseRenewMs} ms). Warm start: ${p.warmStarts} sequential creates per round on sqlite and postgres-1,`,
    `each on a fresh store with a pool of ${p.warmPoolSize}, full again before each create (as in the startup benchmark): the client-seen`,
    'POST /v1/sessions answer (the claim path; the fake shell prints no prompt) and the gateway\'s claimMs.',
    '',
    '## Result',
    '',
    ratioLine(r.scale, '3 replicas vs 1 on PostgreSQL, median claims/s', `>= ${SCALE_GOAL}`),
    ratioLine(r.warmRatio, 'Warm start p50, PostgreSQL vs SQLite', `<= ${WARM_GOAL}`),
    '',
    '## Claims per second',
    '',
    '| setup | replicas | median claims/s | each round | warm | failed | latency p50 ms | p99 ms | WAL bytes per claim |',
    '|---|---|---|---|---|---|---|---|---|',
    ...r.setups.map((s) => `| ${s.setup} | ${s.replicas} | ${formatRate(s.medianClaimsPerS)} | ${s.claimsPerS.map((v) => formatRate(v)).join(', ')} | ${pct(s.warmShare)} | ${s.failed} | ${formatMs(s.latencyP50Ms)} | ${formatMs(s.latencyP99Ms)} | ${s.walBytesPerClaim !== undefined ? Math.round(s.walBytesPerClaim).toLocaleString('en-US') : '–'} |`),
    '',
    'WAL bytes per claim: the write-ahead log PostgreSQL wrote from a burst\'s start to its end (`pg_current_wal_lsn()`), per',
    'claim: every replica\'s writes in that time (the claims, sessions turning running, refills, lease renewals); reads do not show.',
    '',
    '## Warm start',
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
