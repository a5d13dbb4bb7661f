import type { Clock } from '../clock/clock.ts'
import type { LabMetrics } from '../observability/metrics.ts'
import type { SessionRecord, Store } from '../store/types.ts'
import type { PoolRuntime } from './pools.ts'

/** How often pool counts are sampled, and how many samples each pool keeps (10 min at 2 s). */
export const STATS_INTERVAL_MS = 2000
export const STATS_MAX_POINTS = 300

export interface PoolSeries {
  /** Sample times, ms since the epoch; the other arrays line up with it. */
  readonly t: number[]
  readonly ready: number[]
  readonly starting: number[]
  readonly claimed: number[]
  readonly target: number[]
}

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

export interface LatencyHistogram {
  /** Upper bounds of the buckets in ms; the last bucket (`null`) is everything above. */
  readonly bucketsMs: (number | null)[]
  /** Claims per bucket (not cumulative), by path. */
  readonly warm: number[]
  readonly cold: number[]
}

export interface PoolStats {
  readonly name: string
  readonly series: PoolSeries
  readonly claims: { warm: number; cold: number; rejected: number; warmHitRate: number | null }
  readonly claimLatency: LatencyHistogram
  readonly lastError?: string
}

export interface SessionStats {
  readonly id: string
  readonly user: string
  readonly pool: string
  readonly state: SessionRecord['state']
  readonly warm: boolean
  readonly createdAt: string
  readonly ageS: number
  /** Seconds since the last terminal input or output; absent when the gateway cannot tell. */
  readonly idleS?: number
}

export interface Stats {
  readonly now: string
  readonly intervalMs: number
  readonly pools: PoolStats[]
  readonly failures: { driver: string; reason: string; count: number }[]
  readonly sessions: SessionStats[]
}

export interface StatsDeps {
  readonly pools: ReadonlyMap<string, PoolRuntime>
  readonly metrics: LabMetrics
  readonly store: Store
  readonly clock: Clock
  readonly sampler?: PoolStatsSampler
  /** Last terminal activity of a live session (ms since the epoch), if known. */
  readonly lastActivityMs?: (sessionId: string) => number | undefined
}

type Sample = { labels: Partial<Record<string, string | number>>; value: number; metricName?: string }

/** Builds the body of `GET /v1/stats` (docs/api.md). */
export async function buildStats(deps: StatsDeps): Promise<Stats> {
  const now = deps.clock.now()
  const claims = (await deps.metrics.claims.get()).values as Sample[]
  const latency = (await deps.metrics.claimDuration.get()).values as Sample[]
  const failures = (await deps.metrics.sandboxFailures.get()).values as Sample[]

  const pools: PoolStats[] = [...deps.pools.values()].map((p) => {
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

  const active = [...(await deps.store.listSessions({ state: 'running' })), ...(await deps.store.listSessions({ state: 'starting' }))]
  active.sort((a, b) => b.createdAt - a.createdAt)
  const sessions = active.map((s): SessionStats => {
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
    pools,
    failures: failures
      .filter((v) => v.value > 0)
      .map((v) => ({ driver: String(v.labels.driver), reason: String(v.labels.reason), count: v.value })),
    sessions,
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
