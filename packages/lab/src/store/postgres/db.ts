import { createHash } from 'node:crypto'
import pg from 'pg'
import { StoreUnavailableError } from '../errors.ts'

/** A statement each connection parses and plans once, then runs by name. */
export interface Prepared {
  readonly name: string
  readonly text: string
}

/**
 * `text` as a prepared statement, named after its text. For the fixed texts of the frequent calls
 * only (claims, session changes, the logs): every connection keeps each one it ran, so a text
 * built from a caller's input (a filter's labels, a scope's users) stays a plain string.
 */
export function prepared(text: string): Prepared {
  let p = PREPARED.get(text)
  if (!p) {
    p = { name: `lab_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`, text }
    PREPARED.set(text, p)
  }
  return p
}
const PREPARED = new Map<string, Prepared>()

/** What a query runs on: the pool (each statement its own transaction) or a transaction's connection. */
export interface Sql {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string | Prepared, values?: unknown[]): Promise<pg.QueryResult<R>>
}

function config(text: string | Prepared, values: unknown[] | undefined): pg.QueryConfig<unknown[]> {
  return { ...(typeof text === 'string' ? { text } : text), ...(values ? { values } : {}) }
}

export interface PgConnectOptions {
  /** `postgres://user:password@host:port/database?…` (libpq's URL form, `host=/dir` for a unix socket). */
  readonly url: string
  /** Connections in the pool (the event listener holds one more). */
  readonly poolSize: number
  /** How long opening a connection, or waiting for a free one, may take before the call fails. */
  readonly connectTimeoutMs: number
  /** How long one statement may run (the server cancels it; the client gives up a little later). */
  readonly queryTimeoutMs: number
}

const { builtins } = pg.types
/**
 * int8 as a JS number (times in ms, counts and ids stay far below 2^53), json and jsonb as their
 * text: the rows then look like SQLite's, and both stores map them with store/rows.ts.
 */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === builtins.INT8) return (v: string) => Number(v)
    if (oid === builtins.JSON || oid === builtins.JSONB) return (v: string) => v
    return pg.types.getTypeParser(oid, format)
  }) as pg.CustomTypesConfig['getTypeParser'],
}

/** Connection settings for one client: the pool's, the migrator's and the event listener's. */
export function clientConfig(o: PgConnectOptions, queryTimeouts = true): pg.ClientConfig {
  return {
    connectionString: o.url,
    connectionTimeoutMillis: o.connectTimeoutMs,
    // The server ends a statement at statement_timeout; the client's own timer (a little later)
    // covers a server or network that stopped answering altogether.
    ...(queryTimeouts ? { statement_timeout: o.queryTimeoutMs, query_timeout: o.queryTimeoutMs + 1000 } : {}),
    keepAlive: true,
    application_name: 'infra-lab',
    types: TYPES,
  }
}

// SQLSTATE classes and codes that mean the database is not there (rather than a query being wrong):
// 08 connection exception, 57P01-57P03 shutdown or start-up, 53300 too many connections, 57014 a
// statement cancelled by statement_timeout.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '57014'])
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])
const UNAVAILABLE_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Connection closed)/

/** Whether `err` says the database could not be reached (as opposed to a refused statement). */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08') || UNAVAILABLE_ERRNOS.has(code))) return true
  return UNAVAILABLE_MESSAGES.test(err.message)
}

/** `err` as the store throws it: a StoreUnavailableError when the database could not be reached. */
export function translate(err: unknown): unknown {
  if (err instanceof StoreUnavailableError || !isUnavailable(err)) return err
  return new StoreUnavailableError(`the database cannot be reached: ${(err as Error).message}`, { cause: err })
}

/**
 * The store's connection pool. Every call either completes or throws within the connect and
 * query timeouts: a database that is down gives a StoreUnavailableError, never a hang. A
 * connection that failed is dropped from the pool, and new ones are opened as calls need them,
 * so the pool recovers by itself once the database is back.
 */
export class PgDb implements Sql {
  readonly pool: pg.Pool

  constructor(readonly options: PgConnectOptions, onIdleError: (err: Error) => void) {
    this.pool = new pg.Pool({ ...clientConfig(options), max: options.poolSize, idleTimeoutMillis: 30_000 })
    // An idle connection the server closed (a restart): the pool drops it; without a listener the
    // error would end the process.
    this.pool.on('error', onIdleError)
    // The pool listens for a connection's errors only while it is idle or running one
    // pool.query, and then once; but a connection the server ends (a restart) can report it
    // more than once (the server's FATAL, then a write to the closed socket), or between two
    // statements of a transaction. Unheard, such an error ends the process: every connection
    // gets a listener of its own. The statement in flight or the next one fails instead (and is
    // translated to StoreUnavailableError), and the failed connection leaves the pool.
    this.pool.on('connect', (client) => client.on('error', () => undefined))
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string | Prepared, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(config(text, values))
    } catch (err) {
      throw translate(err)
    }
  }

  /**
   * Runs `body` in one transaction (READ COMMITTED) on one connection: committed if it returns,
   * rolled back if it throws. A connection that failed is not given back to the pool.
   */
  async tx<T>(body: (sql: Sql) => Promise<T>): Promise<T> {
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (err) {
      throw translate(err)
    }
    try {
      await client.query('BEGIN')
      const result = await body({ query: (text, values) => client.query(config(text, values)) })
      await client.query('COMMIT')
      client.release()
      return result
    } catch (err) {
      if (isUnavailable(err)) {
        client.release(err as Error)
      } else {
        try {
          await client.query('ROLLBACK')
          client.release()
        } catch (rollbackErr) {
          client.release(rollbackErr as Error)
        }
      }
      throw translate(err)
    }
  }

  async end(): Promise<void> {
    await this.pool.end()
  }
}
