import { join } from 'node:path'
import { PostgresStore } from './postgres/postgres-store.ts'
import { SqliteStore } from './sqlite/sqlite-store.ts'
import type { Store } from './types.ts'

/** Which store a gateway opens: PostgreSQL when a URL is given, else SQLite in the data dir. */
export interface StoreChoice {
  readonly url?: string | undefined
  readonly poolSize: number
}

/**
 * Opens (and migrates) the gateway's store: `<dataDir>/state.db` (SQLite, the embedded default)
 * unless `choice.url` names a PostgreSQL database. `onConnectionError` hears of PostgreSQL
 * connections lost in the background (the pool and the event listener reconnect by themselves).
 */
export async function openStore(dataDir: string, choice: StoreChoice, onConnectionError?: (err: Error) => void): Promise<Store> {
  if (choice.url === undefined) return new SqliteStore(join(dataDir, 'state.db'))
  return PostgresStore.open({ url: choice.url, poolSize: choice.poolSize, ...(onConnectionError ? { onConnectionError } : {}) })
}

/** The store in one line for logs and the start-up banner: a URL's password never appears. */
export function describeStore(dataDir: string, choice: StoreChoice): string {
  if (choice.url === undefined) return `SQLite ${join(dataDir, 'state.db')}`
  return `PostgreSQL ${redactUrl(choice.url)} (pool ${choice.poolSize})`
}

/** The URL with its password (in the authority, or a `password` parameter) replaced by `***`. */
export function redactUrl(url: string): string {
  return url
    .replace(/^([a-z]+:\/\/[^:/?#@]*):[^/?#]*@/i, '$1:***@')
    .replace(/([?&]password=)[^&#]*/gi, '$1***')
}
