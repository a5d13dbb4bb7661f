import type { EndedReason, SessionRecord } from '../store/types.ts'

export interface Attach {
  readonly url: string
  readonly token: string
  readonly expiresAt: string
}

export interface SessionView {
  readonly id: string
  readonly user: string
  readonly pool: string
  readonly state: SessionRecord['state']
  readonly warm: boolean
  readonly createdAt: string
  readonly endedAt?: string
  readonly endedReason?: EndedReason
  readonly endedBy?: string
  readonly timings: Readonly<Record<string, number>>
  readonly labels: Readonly<Record<string, string>>
  readonly expiresAt?: string
  readonly idleExpiresAt?: string
}

/** A session as the API shows it; `idleExpiresAt` needs its last activity (known where it is live). */
export function toView(s: SessionRecord, idleExpiresAtMs?: number): SessionView {
  const open = s.state !== 'ended'
  return {
    id: s.id,
    user: s.user,
    pool: s.pool,
    state: s.state,
    warm: s.warm,
    createdAt: new Date(s.createdAt).toISOString(),
    ...(s.endedAt !== null ? { endedAt: new Date(s.endedAt).toISOString() } : {}),
    ...(s.endedReason !== null ? { endedReason: s.endedReason } : {}),
    ...(s.endedBy !== null ? { endedBy: s.endedBy } : {}),
    timings: s.timings,
    labels: s.labels,
    ...(open && s.expiresAt !== null ? { expiresAt: new Date(s.expiresAt).toISOString() } : {}),
    ...(open && idleExpiresAtMs !== undefined ? { idleExpiresAt: new Date(idleExpiresAtMs).toISOString() } : {}),
  }
}
