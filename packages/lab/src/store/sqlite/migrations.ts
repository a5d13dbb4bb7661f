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
