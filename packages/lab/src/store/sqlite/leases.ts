import type Database from 'better-sqlite3'
import { acquireLeaseSql, toLease, type LeaseRow } from '../lease-rows.ts'
import type { LeaseRecord } from '../types.ts'

/** Named leases (a pool controller's, among replicas); see Store.acquireLease. */
export class SqliteLeases {
  private readonly q

  constructor(db: Database.Database) {
    this.q = {
      acquire: db.prepare(acquireLeaseSql(() => '?')),
      release: db.prepare('DELETE FROM leases WHERE name = ? AND holder = ?'),
      get: db.prepare('SELECT name, holder, expires_at, acquired_at FROM leases WHERE name = ?'),
    }
  }

  acquire(name: string, holder: string, now: number, ttlMs: number): boolean {
    return this.q.acquire.run(name, holder, now + ttlMs, now).changes === 1
  }

  release(name: string, holder: string): boolean {
    return this.q.release.run(name, holder).changes === 1
  }

  get(name: string): LeaseRecord | undefined {
    const r = this.q.get.get(name) as LeaseRow | undefined
    return r ? toLease(r) : undefined
  }
}
