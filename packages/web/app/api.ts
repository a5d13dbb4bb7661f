import { InfraLab, InfraLabError, type CreateKeyRequest, type Session, type Stats } from '@infra-lab/sdk'
import { followEvents, type LiveEventsHandlers } from './live-events.ts'
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

/** The dashboard's view of GET /v1/stats: the SDK's type, generated from the route's schema. */
export type { Stats }
export type PoolStats = Stats['pools'][number]
export type QuotaStats = Stats['quotas']
export type EndedReasonStats = Stats['endedReasons']

/** An SDK error as a sentence for the page; anything else as it is. */
export function readable(err: unknown): unknown {
  if (!(err instanceof InfraLabError)) return err
  if (err.code === 'unreachable') return new ApiFailure(describeNetworkError(location.origin), 0, undefined)
  const body = { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } }
  return new ApiFailure(describeApiError(err.status, body, err.retryAfterS), err.status, err.code)
}

/** The SDK's client of this page's gateway (the page is served by it) with the key. */
function client(key = apiKey.get() ?? ''): InfraLab {
  return new InfraLab({ url: location.origin, apiKey: key })
}

/** Runs calls of the SDK; a failure becomes an ApiFailure with a readable message. */
export async function call<T>(fn: (lab: InfraLab) => Promise<T>, key?: string): Promise<T> {
  try {
    return await fn(client(key))
  } catch (err) {
    throw readable(err)
  }
}

export const lab = {
  pools: (key?: string) => call((l) => l.pools.list(), key),
  createSession: (user: string, pool: string) => call((l) => l.sessions.create({ user, pool })),
  session: (id: string): Promise<Session> => call((l) => l.sessions.get(id)),
  terminate: (id: string) => call(async (l) => (await l.sessions.get(id)).end()),
  stats: () => call((l) => l.stats()),
  keys: () => call((l) => l.keys.list()),
  createKey: (req: CreateKeyRequest) => call((l) => l.keys.create(req)),
  revokeKey: (id: string) => call((l) => l.keys.revoke(id)),
  rotateKey: (id: string) => call((l) => l.keys.rotate(id)),
  /** Live events while the page shows; the returned function stops them. */
  follow: (h: LiveEventsHandlers): (() => void) => followEvents(client(), h),
}
