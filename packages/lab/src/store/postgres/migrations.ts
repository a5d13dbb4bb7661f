import pg from 'pg'
import { CLAIM_FUNCTION_V1, GENERIC_PLANS_V1, INSERT_SANDBOX_FUNCTION_V1, MARK_RUNNING_FUNCTION_V1 } from './claim-function.ts'
import { clientConfig, translate, type PgConnectOptions } from './db.ts'

/**
 * One schema change. Versions are the 1-based positions in MIGRATIONS, recorded in
 * schema_migrations. Append only: never edit a migration that has shipped.
 *
 * Rolling upgrades: replicas of the previous release keep running against the schema this
 * release migrates to, until they are replaced. So a migration only adds (tables, columns that
 * are nullable or have a default, indexes, rows) and changes nothing the previous release reads
 * or writes; it keeps `compatibleFrom` at the version before it. (The store's queries name their
 * columns, columns.ts, so a column added under a running replica's prepared statements is harmless.) Dropping or renaming what older
 * code uses waits for a later release in which no code uses it any more, and that migration sets
 * `compatibleFrom` to its own version: a build older than that then refuses the database at
 * start instead of failing on its first query.
 */
export interface Migration {
  /** The oldest schema version whose code still works against this one. */
  readonly compatibleFrom: number
  readonly sql: string
}

/**
 * The schema of the SQLite store (store/sqlite/migrations.ts) as one first migration: times in
 * ms as bigint, JSON as jsonb; names and ids that lists are ordered by compare bytewise (COLLATE
 * "C"), as in SQLite, whatever the database's locale. `user` is a reserved word in Postgres and
 * always quoted. Event
 * ids come from `log_sequence`, not from a sequence: a writer takes its row, so ids are handed
 * out in commit order and a reader paging by id never passes over an event that commits late.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    compatibleFrom: 1,
    sql: `
    CREATE TABLE pools (
      name TEXT COLLATE "C" PRIMARY KEY,
      spec JSONB NOT NULL,
      updated_at BIGINT NOT NULL
    );
    CREATE TABLE sessions (
      id TEXT COLLATE "C" PRIMARY KEY,
      "user" TEXT COLLATE "C" NOT NULL,
      pool TEXT NOT NULL,
      sandbox_id TEXT,
      state TEXT NOT NULL CHECK (state IN ('starting', 'running', 'ended')),
      warm BOOLEAN NOT NULL,
      created_at BIGINT NOT NULL,
      ended_at BIGINT,
      ended_reason TEXT COLLATE "C",
      timings JSONB NOT NULL DEFAULT '{}',
      env_names JSONB NOT NULL DEFAULT '[]',
      network JSONB,
      credentials TEXT,
      key_id TEXT,
      labels JSONB NOT NULL DEFAULT '{}',
      expires_at BIGINT,
      idle_timeout_s INTEGER,
      ended_by TEXT
    );
    CREATE INDEX sessions_user ON sessions ("user", created_at);
    CREATE INDEX sessions_pool ON sessions (pool, created_at);
    CREATE INDEX sessions_newest ON sessions (created_at DESC, id DESC);
    CREATE INDEX sessions_open ON sessions (created_at DESC, id DESC) WHERE ended_at IS NULL;
    CREATE INDEX sessions_open_user ON sessions ("user") WHERE ended_at IS NULL;
    CREATE INDEX sessions_open_key ON sessions (key_id) WHERE ended_at IS NULL AND key_id IS NOT NULL;
    CREATE INDEX sessions_ended_at ON sessions (ended_at) WHERE ended_at IS NOT NULL;
    CREATE TABLE sandboxes (
      id TEXT COLLATE "C" PRIMARY KEY,
      pool TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('starting', 'warm', 'claimed', 'destroying')),
      created_at BIGINT NOT NULL,
      ready_at BIGINT,
      claimed_at BIGINT,
      session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
      handle JSONB
    );
    CREATE INDEX sandboxes_pool_state ON sandboxes (pool, state, created_at, id);
    CREATE INDEX sandboxes_session ON sandboxes (session_id);
    CREATE TABLE attach_tokens (
      token_hash TEXT PRIMARY KEY,
      session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
      expires_at BIGINT NOT NULL
    );
    CREATE INDEX attach_tokens_expiry ON attach_tokens (expires_at);
    CREATE INDEX attach_tokens_session ON attach_tokens (session_id);
    CREATE TABLE session_labels (
      session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
      key TEXT NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (session_id, key)
    );
    CREATE INDEX session_labels_pair ON session_labels (key, value);
    CREATE TABLE api_keys (
      id TEXT COLLATE "C" PRIMARY KEY,
      name TEXT NOT NULL,
      secret_hash TEXT NOT NULL UNIQUE,
      users JSONB,
      pools JSONB,
      max_sessions INTEGER,
      creates_per_min INTEGER,
      expires_at BIGINT,
      created_at BIGINT NOT NULL,
      revoked_at BIGINT,
      rotated_at BIGINT
    );
    CREATE TABLE rate_buckets (
      key_id TEXT PRIMARY KEY,
      tokens DOUBLE PRECISION NOT NULL,
      updated_at BIGINT NOT NULL
    );
    CREATE TABLE log_sequence (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      last_event_id BIGINT NOT NULL
    );
    INSERT INTO log_sequence (id, last_event_id) VALUES (1, 0);
    CREATE TABLE audit (
      id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      at BIGINT NOT NULL,
      actor TEXT NOT NULL,
      key_id TEXT,
      action TEXT NOT NULL,
      target TEXT NOT NULL,
      details JSONB NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_at ON audit (at, id);
    CREATE TABLE events (
      id BIGINT PRIMARY KEY,
      at BIGINT NOT NULL,
      type TEXT NOT NULL,
      pool TEXT,
      "user" TEXT,
      session_id TEXT,
      data JSONB NOT NULL DEFAULT '{}'
    );
    CREATE TABLE webhooks (
      id TEXT COLLATE "C" PRIMARY KEY,
      url TEXT NOT NULL,
      events JSONB NOT NULL,
      secret TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      created_by TEXT NOT NULL,
      after_event_id BIGINT NOT NULL
    );
    CREATE TABLE webhook_deliveries (
      id TEXT COLLATE "C" PRIMARY KEY,
      webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
      event_id BIGINT NOT NULL,
      event_at BIGINT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'abandoned')),
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at BIGINT NOT NULL,
      last_attempt_at BIGINT,
      last_status INTEGER,
      last_error TEXT,
      UNIQUE (webhook_id, event_id)
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
    CREATE INDEX webhook_deliveries_last ON webhook_deliveries (webhook_id, last_attempt_at);
    CREATE INDEX webhook_deliveries_event_at ON webhook_deliveries (event_at) WHERE state <> 'pending';
    CREATE TABLE webhook_cursor (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      last_event_id BIGINT NOT NULL
    );
    INSERT INTO webhook_cursor (id, last_event_id) VALUES (1, 0);
    `,
  },
  {
    // Leases: which replica runs each pool's controller (pool:<name>), renewed by its holder. Only adds.
    compatibleFrom: 1,
    sql: `
    CREATE TABLE leases (
      name TEXT COLLATE "C" PRIMARY KEY,
      holder TEXT NOT NULL,
      expires_at BIGINT NOT NULL,
      acquired_at BIGINT NOT NULL
    );
    `,
  },
  {
    // The claim, and a create's row within maxSize, as functions: one round trip each instead of
    // seven and four (claim-function.ts). Only adds; a later change to either is a new function
    // (lab_claim_v2), so replicas of this release keep theirs.
    compatibleFrom: 2,
    sql: CLAIM_FUNCTION_V1 + INSERT_SANDBOX_FUNCTION_V1,
  },
  {
    // Sessions' shared timers: the latest activity any replica saw, and the deadline last warned
    // of (so one replica writes each `session.expiring`). Only adds nullable columns.
    compatibleFrom: 3,
    sql: `
    ALTER TABLE sessions ADD COLUMN last_active_at BIGINT;
    ALTER TABLE sessions ADD COLUMN warned_for BIGINT;
    `,
  },
  {
    // The claim functions' statements with generic plans, and `starting -> running` as a
    // function (claim-function.ts). Changes no table, signature or result and only adds a
    // function: the previous release's code runs against it unchanged.
    compatibleFrom: 4,
    sql: GENERIC_PLANS_V1 + MARK_RUNNING_FUNCTION_V1,
  },
]

/** The advisory lock migrations run under (one key per database: "infralab" in ASCII). */
export const MIGRATION_LOCK_KEY = 0x696e6672616c6162n

export interface MigrationResult {
  /** The database's schema version afterwards. */
  readonly version: number
  /** How many migrations this call applied (0: another process had, or none was due). */
  readonly applied: number
}

/**
 * Brings the database up to this build's schema. Runs under a session advisory lock, so of two
 * gateways starting at once one migrates and the other waits, then finds nothing to do. Each
 * migration commits with its schema_migrations row. A database newer than this build is used as
 * long as its newest migration says this build's schema still works with it (a rolling upgrade);
 * otherwise it is refused. Uses its own connection, without the query timeout: a migration, or
 * the wait for another process's, may take longer than any one query of the store.
 */
export async function migrate(options: PgConnectOptions, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  const client = new pg.Client(clientConfig(options, false))
  client.on('error', () => undefined) // a lost connection fails the query in progress
  try {
    await client.connect()
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()])
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      applied_at BIGINT NOT NULL,
      compatible_from INTEGER NOT NULL
    )`)
    const { rows } = await client.query<{ version: number; compatible_from: number }>(
      'SELECT version, compatible_from FROM schema_migrations ORDER BY version DESC LIMIT 1')
    const current = rows[0]?.version ?? 0
    if (current > migrations.length) {
      if (migrations.length < rows[0]!.compatible_from) {
        throw new Error(`database schema version ${current} needs code of schema ${rows[0]!.compatible_from} or newer, and this build knows ${migrations.length}; upgrade infra-lab`)
      }
      return { version: current, applied: 0 }
    }
    for (let v = current; v < migrations.length; v++) {
      const m = migrations[v]!
      await client.query('BEGIN')
      await client.query(m.sql)
      await client.query('INSERT INTO schema_migrations (version, applied_at, compatible_from) VALUES ($1, $2, $3)', [v + 1, Date.now(), m.compatibleFrom])
      await client.query('COMMIT')
    }
    return { version: migrations.length, applied: migrations.length - current }
  } catch (err) {
    throw translate(err)
  } finally {
    // Closing the connection rolls back a failed migration and releases the lock.
    await client.end().catch(() => undefined)
  }
}
