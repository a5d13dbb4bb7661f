import { z } from 'zod'

/** Connections each gateway keeps to PostgreSQL by default (the event listener holds one more). */
export const DEFAULT_STORE_POOL_SIZE = 10

// libpq's URL form: an empty host (`postgres://user@/db?host=/run/postgresql`) is allowed, so it is
// not a WHATWG URL; the driver parses the rest.
const POSTGRES_URL = /^postgres(ql)?:\/\/\S*$/

/**
 * Where the gateway keeps its state. Without `url`, SQLite in the data dir (one gateway); with a
 * PostgreSQL URL, that database, which any number of gateways (replicas) share. The messages
 * never repeat the URL: it may hold a password.
 */
export const storeConfigSchema = z.object({
  /** `postgres://user:password@host:port/database` (or `postgresql://`; `?host=/dir` for a unix socket). */
  url: z.string().refine((v) => POSTGRES_URL.test(v), 'must be a postgres:// or postgresql:// URL').optional(),
  /** Connections in the PostgreSQL pool; unused with SQLite. */
  poolSize: z.number().int().min(1).max(1000).default(DEFAULT_STORE_POOL_SIZE),
}).strict()

export type StoreConfig = z.infer<typeof storeConfigSchema>
