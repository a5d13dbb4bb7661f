import type Database from 'better-sqlite3'

/**
 * Schema migrations, applied in order; PRAGMA user_version holds how many have run.
 * Append only: never edit a migration that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE pools (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    pool TEXT NOT NULL,
    sandbox_id TEXT,
    state TEXT NOT NULL CHECK (state IN ('starting', 'running', 'ended')),
    warm INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    ended_at INTEGER,
    ended_reason TEXT,
    timings TEXT NOT NULL DEFAULT '{}',
    env_names TEXT NOT NULL DEFAULT '[]'
  );
  CREATE INDEX sessions_user ON sessions (user, created_at);
  CREATE INDEX sessions_state ON sessions (state, created_at);
  CREATE INDEX sessions_pool ON sessions (pool, created_at);
  CREATE TABLE sandboxes (
    id TEXT PRIMARY KEY,
    pool TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('starting', 'warm', 'claimed', 'destroying')),
    created_at INTEGER NOT NULL,
    ready_at INTEGER,
    claimed_at INTEGER,
    session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
    handle TEXT
  );
  CREATE INDEX sandboxes_pool_state ON sandboxes (pool, state, created_at, id);
  CREATE TABLE attach_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX attach_tokens_expiry ON attach_tokens (expires_at);
  `,
  // Issue 13: the session's network policy (JSON) and its injected credentials, sealed
  // (AES-256-GCM, egress/sealed.ts): never a plain value on disk.
  `
  ALTER TABLE sessions ADD COLUMN network TEXT;
  ALTER TABLE sessions ADD COLUMN credentials TEXT;
  `,
  // Issue 14: keys and quotas, labels, per-session timeouts, who ended a session, the audit log
  // and the event log. Counters live here (open sessions by index, rate buckets as rows), so
  // the limits hold for every process that shares the database.
  `
  ALTER TABLE sessions ADD COLUMN key_id TEXT;
  ALTER TABLE sessions ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE sessions ADD COLUMN expires_at INTEGER;
  ALTER TABLE sessions ADD COLUMN idle_timeout_s INTEGER;
  ALTER TABLE sessions ADD COLUMN ended_by TEXT;
  CREATE INDEX sessions_open_user ON sessions (user) WHERE state <> 'ended';
  CREATE INDEX sessions_open_key ON sessions (key_id) WHERE state <> 'ended';
  CREATE INDEX sessions_newest ON sessions (created_at DESC, id DESC);
  CREATE INDEX sessions_ended_at ON sessions (ended_at) WHERE state = 'ended';
  CREATE TABLE session_labels (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (session_id, key)
  );
  CREATE INDEX session_labels_pair ON session_labels (key, value);
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    users TEXT,
    pools TEXT,
    max_sessions INTEGER,
    creates_per_min INTEGER,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    rotated_at INTEGER
  );
  CREATE TABLE rate_buckets (
    key_id TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    key_id TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX audit_at ON audit (at, id);
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    type TEXT NOT NULL,
    pool TEXT,
    user TEXT,
    session_id TEXT,
    data TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX events_at ON events (at);
  `,
  // Issue 14: webhooks and their deliveries. A delivery row per event and webhook carries its
  // retry state, so a restart (or another replica) carries on where the last attempt left off;
  // one cursor over the event log hands every event to the webhooks exactly once. A webhook's
  // secret is sealed like credentials (egress/sealed.ts).
  `
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    after_event_id INTEGER NOT NULL
  );
  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id INTEGER NOT NULL,
    event_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'abandoned')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status INTEGER,
    last_error TEXT,
    UNIQUE (webhook_id, event_id)
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
  CREATE INDEX webhook_deliveries_last ON webhook_deliveries (webhook_id, last_attempt_at);
  CREATE INDEX webhook_deliveries_event_at ON webhook_deliveries (event_at) WHERE state <> 'pending';
  CREATE TABLE webhook_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id INTEGER NOT NULL
  );
  INSERT INTO webhook_cursor (id, last_event_id) VALUES (1, COALESCE((SELECT MAX(id) FROM events), 0));
  `,
  // The claim path writes fewer index entries. "Open" is `ended_at IS NULL` rather than
  // `state <> 'ended'`, so the starting -> running update (state and timings only) touches none
  // of these partial indexes; the state index goes (open sessions are listed through
  // sessions_open); admin sessions (no key) are not in the key index; the event log is purged by
  // id, in id order, instead of through an index on its time. Older builds' queries still work.
  `
  DROP INDEX sessions_state;
  DROP INDEX sessions_open_user;
  DROP INDEX sessions_open_key;
  DROP INDEX sessions_ended_at;
  DROP INDEX events_at;
  CREATE INDEX sessions_open ON sessions (created_at DESC, id DESC) WHERE ended_at IS NULL;
  CREATE INDEX sessions_open_user ON sessions (user) WHERE ended_at IS NULL;
  CREATE INDEX sessions_open_key ON sessions (key_id) WHERE ended_at IS NULL AND key_id IS NOT NULL;
  CREATE INDEX sessions_ended_at ON sessions (ended_at) WHERE ended_at IS NOT NULL;
  `,
  // Leases: which replica runs each pool's controller (pool:<name>), renewed by its holder.
  `
  CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL
  );
  `,
  // Sessions' shared timers: the latest activity any gateway sharing the file saw, and the
  // deadline last warned of.
  `
  ALTER TABLE sessions ADD COLUMN last_active_at INTEGER;
  ALTER TABLE sessions ADD COLUMN warned_for INTEGER;
  `,
]

/** Brings the database up to the latest schema in one transaction; returns the new version. */
export function migrate(db: Database.Database): number {
  const run = db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number
    if (current > MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this build knows (${MIGRATIONS.length}); upgrade infra-lab`)
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      db.exec(MIGRATIONS[v]!)
      db.pragma(`user_version = ${v + 1}`)
    }
    return MIGRATIONS.length
  })
  return run.immediate()
}
