import type { LeaseRecord } from './types.ts'

/** A leases row as both stores read it. */
export interface LeaseRow {
  readonly name: string
  readonly holder: string
  readonly expires_at: number
  readonly acquired_at: number
}

export function toLease(r: LeaseRow): LeaseRecord {
  return { name: r.name, holder: r.holder, expiresAt: r.expires_at, acquiredAt: r.acquired_at }
}

/**
 * Takes a lease that is free or lapsed, or renews the holder's own (keeping when it took it),
 * in one statement: the conflict's WHERE leaves another holder's running lease as it is. Both
 * stores run this text (placeholders $1..$4 in Postgres, ? in SQLite, each used once and in order).
 */
export function acquireLeaseSql(p: (n: number) => string): string {
  return `INSERT INTO leases (name, holder, expires_at, acquired_at) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})
    ON CONFLICT (name) DO UPDATE SET
      acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END,
      holder = excluded.holder,
      expires_at = excluded.expires_at
    WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at`
}
