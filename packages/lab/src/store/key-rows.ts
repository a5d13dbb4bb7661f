import type { KeyRecord } from './types.ts'

/** An `api_keys` row as the SQL stores return it (users and pools as JSON text). */
export interface KeyRow {
  id: string
  name: string
  secret_hash: string
  users: string | null
  pools: string | null
  max_sessions: number | null
  creates_per_min: number | null
  expires_at: number | null
  created_at: number
  revoked_at: number | null
  rotated_at: number | null
}

export function toKey(r: KeyRow): KeyRecord {
  return {
    id: r.id,
    name: r.name,
    users: r.users === null ? null : (JSON.parse(r.users) as string[]),
    pools: r.pools === null ? null : (JSON.parse(r.pools) as string[]),
    maxSessions: r.max_sessions,
    createsPerMin: r.creates_per_min,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    rotatedAt: r.rotated_at,
  }
}
