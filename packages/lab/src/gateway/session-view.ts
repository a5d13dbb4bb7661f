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
  readonly timings: Readonly<Record<string, number>>
}

export function toView(s: SessionRecord): SessionView {
  return {
    id: s.id,
    user: s.user,
    pool: s.pool,
    state: s.state,
    warm: s.warm,
    createdAt: new Date(s.createdAt).toISOString(),
    ...(s.endedAt !== null ? { endedAt: new Date(s.endedAt).toISOString() } : {}),
    ...(s.endedReason !== null ? { endedReason: s.endedReason } : {}),
    timings: s.timings,
  }
}
