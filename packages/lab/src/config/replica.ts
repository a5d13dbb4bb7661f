import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { z } from 'zod'

/** How often a replica renews the leases of the pools it runs, by default (a lease lasts 3 renewals). */
export const DEFAULT_LEASE_RENEW_MS = 2000

/** A replica id: a metric label and a lease holder's name, so plain and short. */
export const replicaIdSchema = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1 to 128 letters, digits, dots, dashes or underscores')

/**
 * This process's replica id when none is configured: host name, pid and a random suffix, so two
 * gateways on one host, or a restarted one, never share an id (a lease is its holder's).
 */
export function defaultReplicaId(): string {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 64) || 'host'
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`
}
