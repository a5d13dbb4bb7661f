import { acquireLeaseSql, toLease, type LeaseRow } from '../lease-rows.ts'
import type { LeaseRecord } from '../types.ts'
import { prepared, type Sql } from './db.ts'

// Renewed every few seconds by each pool's controller on every replica.
const ACQUIRE = prepared(acquireLeaseSql((n) => `$${n}`))
const RELEASE = prepared('DELETE FROM leases WHERE name = $1 AND holder = $2')
const GET = prepared('SELECT name, holder, expires_at, acquired_at FROM leases WHERE name = $1')

/**
 * Named leases (a pool controller's, among replicas); see Store.acquireLease. The upsert is one
 * statement: of two replicas taking a free lease at once, INSERT ... ON CONFLICT lets one insert
 * and makes the other see its row (then the WHERE refuses it while the lease runs).
 */
export class PgLeases {
  constructor(private readonly sql: Sql) {}

  async acquire(name: string, holder: string, now: number, ttlMs: number): Promise<boolean> {
    return (await this.sql.query(ACQUIRE, [name, holder, now + ttlMs, now])).rowCount === 1
  }

  async release(name: string, holder: string): Promise<boolean> {
    return (await this.sql.query(RELEASE, [name, holder])).rowCount === 1
  }

  async get(name: string): Promise<LeaseRecord | undefined> {
    const r = (await this.sql.query<LeaseRow>(GET, [name])).rows[0]
    return r ? toLease(r) : undefined
  }
}
