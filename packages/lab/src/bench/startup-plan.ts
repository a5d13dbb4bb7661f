/**
 * What `bench startup` runs, as pure functions of its options: the gateway's pools, and how
 * many rounds each concurrency level of the sweep gets. No I/O here.
 */

export interface StartupPlanOptions {
  /** Parallel claims of the burst run (against the `default` pool). */
  readonly concurrency: number
  /** Concurrency levels of the sweep, ascending. */
  readonly sweep: readonly number[]
  /** Warm pool size for the drained-pool run (N; N + 1 users claim at once). 0 skips it. */
  readonly drainedPool: number
}

export interface PoolConfig {
  readonly name: string
  readonly policy: { readonly kind: 'fixed'; readonly size: number }
  readonly maxSize: number
  readonly maxConcurrentCreates: number
}

export interface StartupPools {
  readonly pools: readonly PoolConfig[]
  /** Pool of each run: warm and burst use `default`, cold uses `cold`. */
  readonly sweepPool?: string
  readonly drainedPool?: string
  readonly defaultSize: number
}

/**
 * The sweep needs a full pool of at least max(C); the drained run a pool of exactly N. When
 * max(C) equals N one pool serves both, otherwise each gets its own (they idle between runs).
 */
export function startupPools(o: StartupPlanOptions): StartupPools {
  const defaultSize = Math.max(4, o.concurrency)
  const pool = (name: string, size: number, spare: number): PoolConfig => ({ name, policy: { kind: 'fixed', size }, maxSize: size + spare, maxConcurrentCreates: 4 })
  const pools: PoolConfig[] = [pool('default', defaultSize, o.concurrency + 4)]
  const maxC = Math.max(0, ...o.sweep)
  let sweepPool: string | undefined
  let drainedPool: string | undefined
  if (maxC > 0) {
    sweepPool = 'sweep'
    pools.push(pool('sweep', maxC, maxC === o.drainedPool ? 4 : maxC + 4))
  }
  if (o.drainedPool > 0) {
    if (o.drainedPool === maxC) drainedPool = 'sweep'
    else {
      drainedPool = 'drained'
      pools.push(pool('drained', o.drainedPool, 4))
    }
  }
  pools.push({ name: 'cold', policy: { kind: 'fixed', size: 0 }, maxSize: 8, maxConcurrentCreates: 4 })
  return { pools, defaultSize, ...(sweepPool ? { sweepPool } : {}), ...(drainedPool ? { drainedPool } : {}) }
}

/** Rounds of C parallel starts for about `samples` samples, at least `minRounds`. */
export function sweepRounds(concurrency: number, samples: number, minRounds = 2): number {
  return Math.max(minRounds, Math.ceil(samples / concurrency))
}

/** `1,4,16,64` -> [1, 4, 16, 64] (sorted, unique); an error message for anything else. */
export function parseLevels(list: string, max = 1024): number[] | string {
  const parts = list.split(',').map((s) => s.trim()).filter(Boolean)
  const levels = parts.map(Number)
  const bad = parts.filter((_, i) => !Number.isInteger(levels[i]) || levels[i]! < 1 || levels[i]! > max)
  if (bad.length) return `--sweep: ${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} not an integer from 1 to ${max} (e.g. --sweep 1,4,16,64)`
  return [...new Set(levels)].sort((a, b) => a - b)
}

/** `local,docker` -> ['local', 'docker'] (order kept, duplicates dropped). */
export function parseDrivers(list: string): string[] {
  return [...new Set(list.split(',').map((s) => s.trim()).filter(Boolean))]
}
