import { join } from 'node:path'
import { LabClient } from '../client/client.ts'
import { findRepoRoot } from '../paths.ts'
import { startGatewayProcess } from './gateway-process.ts'
import type { PgServer } from './postgres-server.ts'
import { warmSeries } from './startup-series.ts'

/**
 * One warm start as `bench startup` measures it: POST /v1/sessions to the first byte of the
 * shell's prompt on the terminal's WebSocket, on real sandboxes (the local driver), through a
 * gateway running as its own process on SQLite or on PostgreSQL.
 */
export interface ShellStart {
  readonly setup: 'sqlite' | 'postgres-1'
  readonly round: number
  readonly totalMs: number
  /** The steps of totalMs: the POST's answer, the WebSocket's upgrade, the prompt's first byte after it. */
  readonly postMs: number
  readonly openMs: number
  readonly byteMs: number
  /** The gateway's own claim time (timings.claimMs). */
  readonly claimMs: number
  readonly warm: boolean
}

/** The shell starts' pool: the startup benchmark's (a pool of 4, full before each claim). */
export const SHELL_POOL_SIZE = 4
/** Users the starts cycle through; each one's first start makes their workspace and is left out. */
export const SHELL_USERS = 4

/**
 * `starts` sequential warm starts (after SHELL_USERS left out) through a gateway process on the
 * local driver with `setup`'s store (PostgreSQL: a fresh database `database` on `pg`, a pool of
 * `dbConnections`, as one replica's in the claims' setups), started
 * for them and stopped with its sandboxes torn down.
 */
export async function shellStarts(
  setup: ShellStart['setup'], o: { readonly round: number; readonly starts: number; readonly pg: PgServer; readonly database: string; readonly dbConnections: number; readonly signal: AbortSignal },
): Promise<ShellStart[]> {
  const url = setup === 'postgres-1' ? await o.pg.createDatabase(o.database) : undefined
  const gw = await startGatewayProcess({
    cliPath: join(findRepoRoot(), 'packages/lab/dist/cli.mjs'),
    config: {
      driver: 'local',
      ...(url ? { store: { url, poolSize: o.dbConnections } } : {}),
      pools: [{ name: 'default', driver: 'local', policy: { kind: 'fixed', size: SHELL_POOL_SIZE }, maxSize: SHELL_POOL_SIZE + 4, maxConcurrentCreates: 4 }],
    },
  })
  try {
    // As `bench startup`'s warm run: the pool full again before each start, so neither the refill
    // nor the last session's teardown overlaps it; each user's first start left out.
    const series = await warmSeries({ client: new LabClient(gw.url, gw.apiKey), signal: o.signal, log: () => undefined }, {
      pool: 'default', size: SHELL_POOL_SIZE, sessions: o.starts, warmup: SHELL_USERS, users: SHELL_USERS,
    })
    return series.samples.map((s) => ({ setup, round: o.round, totalMs: s.totalMs, postMs: s.postMs, openMs: s.openMs, byteMs: s.byteMs, claimMs: s.claimMs, warm: s.warm }))
  } finally {
    await gw.stop()
  }
}
