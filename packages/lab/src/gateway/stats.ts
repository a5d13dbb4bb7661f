import type { z } from 'zod'
import type { Clock } from '../clock/clock.ts'
import type { LabMetrics } from '../observability/metrics.ts'
import type { Store } from '../store/types.ts'
import type { PoolRuntime } from '../pool/runtime.ts'
import { covers, scopeOf, type Principal } from './principal.ts'
import type { statsSchema } from './stats-schema.ts'
import { endedReasonStats, quotaStats } from './usage-stats.ts'

/** How often pool counts are sampled, and how many samples each pool keeps (10 min at 2 s). */
export const STATS_INTERVAL_MS = 2000
export const STATS_MAX_POINTS = 300
/** The newest sessions not ended that the dashboard lists (GET /v1/sessions pages through all). */
export const MAX_SESSIONS_SHOWN = 200

/** The body of GET /v1/stats: its one declaration is the route's schema (stats-schema.ts). */
export type Stats = z.input<typeof statsSchema>
type PoolStats = Stats['pools'][number]
type SessionStats = Stats['sessions'][number]
type LatencyHistogram = PoolStats['claimLatency']
export type PoolSeries = PoolStats['series']

/**
 * Samples every pool's ready / starting / claimed / target on a timer, keeping a bounded
 * window per pool, so the dashboard gets a history without scraping /metrics.
 */
export class PoolStatsSampler {
  private readonly series = new Map<string, PoolSeries>()
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly pools: ReadonlyMap<string, PoolRuntime>,
    private readonly clock: Clock,
    readonly intervalMs = STATS_INTERVAL_MS,
    private readonly maxPoints = STATS_MAX_POINTS,
  ) {}

  start(): void {
    this.sample()
    this.timer ??= setInterval(() => this.sample(), this.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  /** Records one point per pool. */
  sample(): void {
    const now = this.clock.now()
    for (const p of this.pools.values()) {
      const st = p.controller.status()
      let s = this.series.get(p.spec.name)
      if (!s) this.series.set(p.spec.name, (s = { t: [], ready: [], starting: [], claimed: [], target: [] }))
      s.t.push(now)
      s.ready.push(st.ready)
      s.starting.push(st.starting)
      s.claimed.push(st.claimed)
      s.target.push(st.target)
      if (s.t.length > this.maxPoints) for (const a of Object.values(s)) a.shift()
    }
  }

  of(pool: string): PoolSeries {
    const s = this.series.get(pool) ?? { t: [], ready: [], starting: [], claimed: [], target: [] }
    return { t: [...s.t], ready: [...s.ready], starting: [...s.starting], claimed: [...s.claimed], target: [...s.target] }
  }
}

export interface StatsDeps {
  readonly pools: ReadonlyMap<string, PoolRuntime>
  readonly metrics: LabMetrics
  readonly store: Store
  readonly clock: Clock
  readonly sampler?: PoolStatsSampler
  /** Last terminal activity of a live session (ms since the epoch), if known. */
  readonly lastActivityMs?: (sessionId: string) => number | undefined
  readonly maxSessionsPerUser: number
}

type Sample = { labels: Partial<Record<string, string | number>>; value: number; metricName?: string }

/** Builds the body of `GET /v1/stats` (docs/api.md) as `caller` may see it: a scoped key, only its pools, users and sessions. */
export async function buildStats(deps: StatsDeps, caller: Principal): Promise<Stats> {
  const now = deps.clock.now()
  const claims = (await deps.metrics.claims.get()).values as Sample[]
  const latency = (await deps.metrics.claimDuration.get()).values as Sample[]
  const failures = (await deps.metrics.sandboxFailures.get()).values as Sample[]

  const pools: PoolStats[] = [...deps.pools.values()].filter((p) => covers(caller, { pool: p.spec.name })).map((p) => {
    const name = p.spec.name
    const count = (result: string) => claims.find((v) => v.labels.pool === name && v.labels.result === result)?.value ?? 0
    const warm = count('warm')
    const cold = count('cold')
    const rejected = count('rejected')
    const total = warm + cold + rejected
    const st = p.controller.status()
    const series = deps.sampler ? deps.sampler.of(name) : { t: [], ready: [], starting: [], claimed: [], target: [] }
    if (series.t.length === 0) {
      series.t.push(now)
      series.ready.push(st.ready)
      series.starting.push(st.starting)
      series.claimed.push(st.claimed)
      series.target.push(st.target)
    }
    return {
      name,
      series,
      claims: { warm, cold, rejected, warmHitRate: total > 0 ? warm / total : null },
      claimLatency: histogram(latency, name),
      ...(st.lastError ? { lastError: st.lastError } : {}),
    }
  })

  const scope = scopeOf(caller)
  const open = (state: 'running' | 'starting') => deps.store.listSessions({ state, limit: MAX_SESSIONS_SHOWN, ...(scope ? { scope } : {}) })
  const active = [...(await open('running')), ...(await open('starting'))]
  active.sort((a, b) => b.createdAt - a.createdAt)
  const sessions = active.slice(0, MAX_SESSIONS_SHOWN).map((s): SessionStats => {
    const last = deps.lastActivityMs?.(s.id)
    return {
      id: s.id, user: s.user, pool: s.pool, state: s.state, warm: s.warm,
      createdAt: new Date(s.createdAt).toISOString(),
      ageS: seconds(now - s.createdAt),
      ...(last !== undefined ? { idleS: seconds(now - last) } : {}),
    }
  })

  return {
    now: new Date(now).toISOString(),
    intervalMs: deps.sampler?.intervalMs ?? STATS_INTERVAL_MS,
    caller: { name: caller.name, admin: caller.kind === 'admin' },
    pools,
    failures: failures
      .filter((v) => v.value > 0)
      .map((v) => ({ driver: String(v.labels.driver), reason: String(v.labels.reason), count: v.value })),
    sessions,
    quotas: await quotaStats(deps.store, caller, now, deps.maxSessionsPerUser),
    endedReasons: await endedReasonStats(deps.store, caller, now),
  }
}

/** prom-client's cumulative `le` buckets for one pool -> per-bucket counts in ms, warm and cold. */
function histogram(values: Sample[], pool: string): LatencyHistogram {
  const buckets = values.filter((v) => v.metricName?.endsWith('_bucket') && v.labels.pool === pool)
  const les = [...new Set(buckets.map((v) => String(v.labels.le)))]
    .map((le) => (le === '+Inf' ? Infinity : Number(le)))
    .sort((a, b) => a - b)
  const perPath = (path: string): number[] => {
    const cumulative = les.map((le) => buckets.find((v) => v.labels.path === path && Number(v.labels.le === '+Inf' ? Infinity : v.labels.le) === le)?.value ?? 0)
    return cumulative.map((c, i) => c - (i > 0 ? cumulative[i - 1]! : 0))
  }
  return {
    bucketsMs: les.map((le) => (le === Infinity ? null : Math.round(le * 1e6) / 1e3)),
    warm: perPath('warm'),
    cold: perPath('cold'),
  }
}

function seconds(ms: number): number {
  return Math.max(0, Math.round(ms / 100) / 10)
}
