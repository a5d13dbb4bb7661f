import type { PoolSpec } from '../spec/pool-spec.ts'

/** How long before a timeout ends a session its terminal is warned (`{"type":"expiring"}`). */
export const EXPIRING_WARNING_S = 60

/** The two ends a session's own limits bring about. */
export type TimeoutReason = 'max_lifetime' | 'idle_timeout'

/** A session's limits as the sweep applies them (ms since the epoch, seconds for the idle limit). */
export interface SessionTimeouts {
  /** When it ends with `max_lifetime` (null: no limit). */
  readonly expiresAt: number | null
  /** Seconds without activity before it ends with `idle_timeout` (null: no limit). */
  readonly idleTimeoutS: number | null
}

/**
 * The session's own limits (create's `timeoutS`/`idleTimeoutS`, or its pool's as the claim wrote
 * them); a session recorded without them, from before sessions carried their own, takes its
 * pool's current ones. A pool's 0 is no limit.
 */
export function timeoutsOf(s: SessionTimeouts & { readonly createdAt: number }, pool: PoolSpec | undefined): SessionTimeouts {
  return {
    expiresAt: s.expiresAt ?? (pool && pool.maxLifetimeS > 0 ? s.createdAt + pool.maxLifetimeS * 1000 : null),
    idleTimeoutS: s.idleTimeoutS ?? (pool && pool.idleTimeoutS > 0 ? pool.idleTimeoutS : null),
  }
}

export interface Deadline {
  readonly reason: TimeoutReason
  /** When the session ends unless something moves it (ms since the epoch). */
  readonly at: number
  /** From when its terminal is warned. */
  readonly warnFrom: number
}

/**
 * The first of the session's two deadlines. Idleness counts from its last activity, which is
 * "now" while a viewer is attached, so an attached session's idle deadline never arrives.
 * The idle warning comes at most halfway through the idle time: a session with a 30 s idle
 * limit that is typed into every few seconds is not warned after every keystroke.
 */
export function nextDeadline(t: SessionTimeouts, lastActivityMs: number): Deadline | undefined {
  const warnMs = EXPIRING_WARNING_S * 1000
  const life = t.expiresAt === null ? undefined : { reason: 'max_lifetime' as const, at: t.expiresAt, warnFrom: t.expiresAt - warnMs }
  const idleMs = t.idleTimeoutS === null ? undefined : t.idleTimeoutS * 1000
  const idle = idleMs === undefined ? undefined : { reason: 'idle_timeout' as const, at: lastActivityMs + idleMs, warnFrom: lastActivityMs + idleMs - Math.min(warnMs, idleMs / 2) }
  if (!life || !idle) return life ?? idle
  return idle.at < life.at ? idle : life
}

export type SweepStep =
  | { readonly kind: 'end'; readonly reason: TimeoutReason }
  | { readonly kind: 'warn'; readonly reason: TimeoutReason; readonly inS: number; readonly deadline: number }

/**
 * What the sweep does for one session now: end it, warn it (once per deadline: `warnedFor` is
 * the deadline last warned of, and a deadline moved by activity or a keepalive is warned of
 * again), or nothing.
 */
export function sweepStep(d: Deadline | undefined, now: number, warnedFor: number | undefined): SweepStep | undefined {
  if (!d) return undefined
  if (now >= d.at) return { kind: 'end', reason: d.reason }
  if (now >= d.warnFrom && warnedFor !== d.at) return { kind: 'warn', reason: d.reason, inS: Math.ceil((d.at - now) / 1000), deadline: d.at }
  return undefined
}
