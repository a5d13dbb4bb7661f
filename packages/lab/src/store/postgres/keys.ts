import { toKey, type KeyRow } from '../key-rows.ts'
import type { KeyRecord, NewKey } from '../types.ts'
import { KEY_COLUMNS } from './columns.ts'
import { prepared, type Prepared, type Sql } from './db.ts'

/** Every authenticated request of a scoped key reads it. */
const BY_HASH = prepared(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE secret_hash = $1`)

/** Scoped API keys: only the sha256 of a secret is kept. */
export class PgKeys {
  constructor(private readonly sql: Sql) {}

  async insert(k: NewKey): Promise<void> {
    await this.sql.query(`INSERT INTO api_keys (id, name, secret_hash, users, pools, max_sessions, creates_per_min, expires_at, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
      k.id, k.name, k.secretHash, k.users === null ? null : JSON.stringify(k.users), k.pools === null ? null : JSON.stringify(k.pools),
      k.maxSessions, k.createsPerMin, k.expiresAt, k.createdAt,
    ])
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    return this.one(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = $1`, id)
  }

  async bySecretHash(hash: string): Promise<KeyRecord | undefined> {
    return this.one(BY_HASH, hash)
  }

  async list(): Promise<KeyRecord[]> {
    return (await this.sql.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`)).rows.map(toKey)
  }

  async revoke(id: string, now: number): Promise<boolean> {
    return (await this.sql.query('UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1', [id, now])).rowCount === 1
  }

  async rotate(id: string, hash: string, now: number): Promise<boolean> {
    return (await this.sql.query('UPDATE api_keys SET secret_hash = $2, rotated_at = $3 WHERE id = $1 AND revoked_at IS NULL', [id, hash, now])).rowCount === 1
  }

  private async one(text: string | Prepared, arg: string): Promise<KeyRecord | undefined> {
    const row = (await this.sql.query<KeyRow>(text, [arg])).rows[0]
    return row ? toKey(row) : undefined
  }
}
