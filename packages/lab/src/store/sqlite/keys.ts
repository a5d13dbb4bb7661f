import type Database from 'better-sqlite3'
import { toKey, type KeyRow } from '../key-rows.ts'
import type { KeyRecord, NewKey } from '../types.ts'

/** Scoped API keys: only the sha256 of a secret is kept. */
export class SqliteKeys {
  private readonly q

  constructor(db: Database.Database) {
    this.q = {
      insert: db.prepare(`INSERT INTO api_keys (id, name, secret_hash, users, pools, max_sessions, creates_per_min, expires_at, created_at)
        VALUES (@id, @name, @secret_hash, @users, @pools, @max_sessions, @creates_per_min, @expires_at, @created_at)`),
      get: db.prepare('SELECT * FROM api_keys WHERE id = ?'),
      byHash: db.prepare('SELECT * FROM api_keys WHERE secret_hash = ?'),
      list: db.prepare('SELECT * FROM api_keys ORDER BY created_at, id'),
      revoke: db.prepare('UPDATE api_keys SET revoked_at = COALESCE(revoked_at, @now) WHERE id = @id'),
      rotate: db.prepare('UPDATE api_keys SET secret_hash = @hash, rotated_at = @now WHERE id = @id AND revoked_at IS NULL'),
    }
  }

  insert(k: NewKey): void {
    this.q.insert.run({
      id: k.id, name: k.name, secret_hash: k.secretHash,
      users: k.users === null ? null : JSON.stringify(k.users), pools: k.pools === null ? null : JSON.stringify(k.pools),
      max_sessions: k.maxSessions, creates_per_min: k.createsPerMin, expires_at: k.expiresAt, created_at: k.createdAt,
    })
  }

  get(id: string): KeyRecord | undefined {
    const r = this.q.get.get(id) as KeyRow | undefined
    return r ? toKey(r) : undefined
  }

  bySecretHash(hash: string): KeyRecord | undefined {
    const r = this.q.byHash.get(hash) as KeyRow | undefined
    return r ? toKey(r) : undefined
  }

  list(): KeyRecord[] {
    return (this.q.list.all() as KeyRow[]).map(toKey)
  }

  revoke(id: string, now: number): boolean {
    return this.q.revoke.run({ id, now }).changes === 1
  }

  rotate(id: string, hash: string, now: number): boolean {
    return this.q.rotate.run({ id, hash, now }).changes === 1
  }
}
