import { describeApiError, describeNetworkError } from './messages.ts'

const KEY = 'infra-lab.apiKey'

/** The API key lives in session storage only: never in the URL, gone when the tab closes. */
export const apiKey = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (key: string): void => sessionStorage.setItem(KEY, key),
  clear: (): void => sessionStorage.removeItem(KEY),
}

/** A failed API call, with a message a person understands. */
export class ApiFailure extends Error {
  override readonly name = 'ApiFailure'
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message)
  }
}

export interface Attach { readonly url: string; readonly token: string; readonly expiresAt: string }
export interface Session {
  readonly id: string; readonly user: string; readonly pool: string; readonly state: 'starting' | 'running' | 'ended'
  readonly warm: boolean; readonly createdAt: string; readonly endedReason?: string; readonly timings: Record<string, number>
}
export interface Pool { readonly name: string; readonly status: { ready: number; starting: number; claimed: number; target: number; lastError?: string } }
export interface PoolStats {
  readonly name: string
  readonly series: { t: number[]; ready: number[]; starting: number[]; claimed: number[]; target: number[] }
  readonly claims: { warm: number; cold: number; rejected: number; warmHitRate: number | null }
  readonly claimLatency: { bucketsMs: (number | null)[]; warm: number[]; cold: number[] }
  readonly lastError?: string
}
export interface SessionStats { readonly id: string; readonly user: string; readonly pool: string; readonly state: string; readonly warm: boolean; readonly ageS: number; readonly idleS?: number }
export interface Stats {
  readonly intervalMs: number
  readonly pools: PoolStats[]
  readonly failures: { driver: string; reason: string; count: number }[]
  readonly sessions: SessionStats[]
}

/** Calls the gateway's /v1 API with the key; throws ApiFailure with a readable message. */
export async function api<T>(method: string, path: string, body?: unknown, key = apiKey.get() ?? ''): Promise<T> {
  let res: Response
  try {
    res = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
  } catch {
    throw new ApiFailure(describeNetworkError(location.origin), 0, undefined)
  }
  if (res.status === 204) return undefined as T
  const text = await res.text()
  let json: unknown
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    json = undefined
  }
  if (!res.ok) {
    const retryAfter = res.headers.get('retry-after')
    const code = (json as { error?: { code?: string } } | undefined)?.error?.code
    throw new ApiFailure(describeApiError(res.status, json, retryAfter !== null ? Number(retryAfter) : undefined), res.status, code)
  }
  return json as T
}

export const lab = {
  pools: () => api<{ pools: Pool[] }>('GET', '/v1/pools').then((r) => r.pools),
  createSession: (user: string, pool: string) => api<Session & { attach: Attach }>('POST', '/v1/sessions', { user, pool }),
  session: (id: string) => api<Session>('GET', `/v1/sessions/${encodeURIComponent(id)}`),
  attach: (id: string) => api<Attach>('POST', `/v1/sessions/${encodeURIComponent(id)}/attach`),
  terminate: (id: string) => api<void>('DELETE', `/v1/sessions/${encodeURIComponent(id)}`),
  stats: () => api<Stats>('GET', '/v1/stats'),
}

/** The terminal's WebSocket URL for an attach (token in the query, as the contract says). */
export function terminalUrl(attach: Attach): string {
  const u = new URL(attach.url, location.href)
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:'
  u.searchParams.set('token', attach.token)
  return u.toString()
}
