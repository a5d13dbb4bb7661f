import type { LabClient } from '../client/client.ts'
import { measureStart, waitForReady, type StartupSample } from './startup.ts'
import { sweepRounds } from './startup-plan.ts'

/** One measured series: the samples kept and how many warm-up starts were left out. */
export interface Series {
  readonly name: string
  readonly how: string
  readonly samples: StartupSample[]
  readonly warmup: number
  /** The same starts against the transport floor, interleaved with these (none without a floor). */
  readonly floor: StartupSample[]
}

export interface SeriesContext {
  readonly client: LabClient
  /** A client of the floor server (floor-server.ts); without it no floor is measured. */
  readonly floor?: LabClient
  readonly signal: AbortSignal
  readonly log: (line: string) => void
}

/** C starts at once; every one is a different user (a user's workspace is one directory). */
function round(client: LabClient, pool: string, c: number, prefix: string): Promise<StartupSample[]> {
  return Promise.all(Array.from({ length: c }, (_, k) => measureStart(client, pool, `${prefix}-${k}`)))
}

/**
 * A round against the gateway and the same round against the floor, in alternating order so
 * that neither always runs right after the other; `floor` is empty without a floor server.
 */
async function withFloor(ctx: SeriesContext, i: number, real: (c: LabClient) => Promise<StartupSample[]>): Promise<{ real: StartupSample[]; floor: StartupSample[] }> {
  const floorClient = ctx.floor
  if (!floorClient) return { real: await real(ctx.client), floor: [] }
  if (i % 2 === 1) {
    const floor = await real(floorClient)
    return { floor, real: await real(ctx.client) }
  }
  const got = await real(ctx.client)
  return { real: got, floor: await real(floorClient) }
}

/**
 * Sequential starts; the pool is full again before each, so the refill does not overlap. They
 * cycle through `users` users (default 16: bench-0..15).
 */
export async function warmSeries(ctx: SeriesContext, o: { pool: string; size: number; sessions: number; warmup: number; users?: number }): Promise<Series> {
  const users = o.users ?? 16
  const samples: StartupSample[] = []
  const floor: StartupSample[] = []
  let warmup = 0
  for (let i = 0; i < o.sessions + o.warmup && !ctx.signal.aborted; i++) {
    await waitForReady(ctx.client, o.pool, o.size)
    const got = await withFloor(ctx, i, async (c) => [await measureStart(c, o.pool, `bench-${i % users}`)])
    if (i < o.warmup) warmup++
    else {
      samples.push(...got.real)
      floor.push(...got.floor)
    }
    if ((i + 1) % 50 === 0) ctx.log(`  warm: ${i + 1}/${o.sessions + o.warmup}`)
  }
  return { name: 'warm', how: `sequential; pool of ${o.size} full before each claim`, samples, warmup, floor }
}

/**
 * Rounds of C starts at once against a full pool of at least C; the first round is warm-up.
 * `name` is e.g. `burst x4` or `sweep C=16`.
 */
export async function parallelSeries(ctx: SeriesContext, o: { name: string; pool: string; size: number; concurrency: number; samples: number }): Promise<Series> {
  const rounds = sweepRounds(o.concurrency, o.samples)
  const samples: StartupSample[] = []
  const floor: StartupSample[] = []
  let warmup = 0
  for (let r = 0; r <= rounds && !ctx.signal.aborted; r++) {
    await waitForReady(ctx.client, o.pool, o.size)
    const got = await withFloor(ctx, r, (c) => round(c, o.pool, o.concurrency, `c${o.concurrency}`))
    if (r === 0) warmup += got.real.length
    else {
      samples.push(...got.real)
      floor.push(...got.floor)
    }
  }
  ctx.log(`  ${o.name}: ${rounds} rounds of ${o.concurrency} (+1 warm-up round)`)
  return { name: o.name, how: `${o.concurrency} at once against a full pool of ${o.size}, ${rounds} rounds`, samples, warmup, floor }
}

export interface DrainedSeries {
  /** Users that found no warm sandbox: normally one per round, the (N+1)-th. */
  readonly beyond: Series
  /** The N users of each round that did get a warm sandbox. */
  readonly within: Series
  readonly poolSize: number
  readonly rounds: number
}

/**
 * N + 1 users start at once against a full pool of N: N get warm sandboxes, the last one waits
 * for a cold start while the pool refills. Which user that is depends on arrival order, so the
 * samples are split by the gateway's own `warm` flag.
 */
export async function drainedSeries(ctx: SeriesContext, o: { pool: string; size: number; rounds: number }): Promise<DrainedSeries> {
  const beyond: StartupSample[] = []
  const within: StartupSample[] = []
  const floor: StartupSample[] = []
  let done = 0
  for (let r = 0; r < o.rounds && !ctx.signal.aborted; r++) {
    await waitForReady(ctx.client, o.pool, o.size)
    const got = await withFloor(ctx, r, (c) => round(c, o.pool, o.size + 1, 'drained'))
    for (const s of got.real) (s.warm ? within : beyond).push(s)
    floor.push(...got.floor)
    done++
  }
  ctx.log(`  drained: ${done} rounds of ${o.size + 1} users against a pool of ${o.size}`)
  const how = `${o.size + 1} users at once against a full pool of ${o.size}, ${done} rounds`
  return {
    // Both rows share the floor of their rounds: N + 1 starts at once against the floor server.
    beyond: { name: `user ${o.size + 1} of ${o.size + 1} (pool drained)`, how: `${how}; users that found no warm sandbox`, samples: beyond, warmup: 0, floor },
    within: { name: `users 1-${o.size} of ${o.size + 1}`, how: `${how}; users that got a warm sandbox`, samples: within, warmup: 0, floor },
    poolSize: o.size, rounds: done,
  }
}

/** Sequential claims on a pool of size 0: every one starts a sandbox. */
export async function coldSeries(ctx: SeriesContext, o: { pool: string; sessions: number; warmup: number }): Promise<Series> {
  const samples: StartupSample[] = []
  const floor: StartupSample[] = []
  let warmup = 0
  for (let i = 0; i < o.sessions + o.warmup && !ctx.signal.aborted; i++) {
    const got = await withFloor(ctx, i, async (c) => [await measureStart(c, o.pool, `cold-${i}`)])
    if (i < o.warmup) warmup++
    else {
      samples.push(...got.real)
      floor.push(...got.floor)
    }
  }
  ctx.log(`  cold: ${samples.length}`)
  return { name: 'cold', how: 'pool of size 0: every claim starts a sandbox', samples, warmup, floor }
}
