// What a person reads when something goes wrong: API errors and why a session ended.
// Pure functions (no DOM), so they are unit-tested in Node.

export interface ApiErrorBody {
  readonly error?: { readonly code?: string; readonly message?: string; readonly details?: readonly { field: string; message: string }[] }
}

const FIELD_NAMES: Record<string, string> = {
  'body.user': 'User name',
  'body.pool': 'Pool',
  user: 'User name',
  pool: 'Pool',
}

function retry(retryAfterS: number | undefined): string {
  return retryAfterS !== undefined && Number.isFinite(retryAfterS) ? ` Try again in ${retryAfterS} s.` : ' Try again in a moment.'
}

/** One sentence (or two) for an HTTP error from the gateway. */
export function describeApiError(status: number, body: unknown, retryAfterS?: number): string {
  const err = (body as ApiErrorBody | undefined)?.error
  const code = err?.code
  const said = err?.message ? ` (${err.message})` : ''
  switch (code) {
    case 'unauthorized':
      return 'The API key was not accepted. Use the key the gateway printed when it started (or INFRA_LAB_API_KEY).'
    case 'invalid_token':
      return 'The terminal link expired or is not valid for this session. Open the session again.'
    case 'validation_failed': {
      const details = err?.details ?? []
      if (details.length === 0) return `The request was not valid${said}.`
      return `Please check: ${details.map((d) => `${FIELD_NAMES[d.field] ?? d.field}: ${d.message}`).join('; ')}.`
    }
    case 'capacity_exhausted':
      return `No shell is free in this pool right now: it is at its maximum size.${retry(retryAfterS)}`
    case 'claim_timeout':
      return `Starting a new shell took too long.${retry(retryAfterS)}`
    case 'pool_unavailable':
      return `This pool cannot start shells right now${said}.${retry(retryAfterS)}`
    case 'pool_not_found':
      return `There is no such pool${said}. Pick one from the list.`
    case 'session_not_found':
      return 'There is no session with this id. It may belong to another gateway; start a new shell.'
    case 'session_ended':
      return 'This session has ended. Start a new shell.'
    case 'forbidden':
      return `This key may not do that${said}. Sign in with the admin key for it.`
    case 'quota_exceeded':
      return `A quota is full${said}: end a session first.${retry(retryAfterS)}`
    case 'rate_limited':
      return `Too many sessions created in the last minute${said}.${retry(retryAfterS)}`
    case 'key_not_found':
      return 'There is no such key (or it was revoked): reload the list.'
    case 'claim_failed':
      return `The shell could not be started${said}. Try again; the gateway log has the details.`
    case 'internal':
      return 'The gateway hit an unexpected error and logged it. Try again; if it persists, check the gateway log.'
    default:
      if (status === 503) return `The gateway is busy or unavailable.${retry(retryAfterS)}`
      if (err?.message) return `The gateway said: ${err.message}`
      return `The gateway answered HTTP ${status}.`
  }
}

export function describeNetworkError(origin: string): string {
  return `Cannot reach the gateway at ${origin}. Is it running?`
}

/** Why a session ended (the `endedReason` / `exit.reason` of docs/api.md). */
export function describeEnd(reason: string | undefined, code?: number | null): string {
  switch (reason) {
    case 'exited':
      return `The shell exited${code !== undefined && code !== null ? ` with status ${code}` : ''}.`
    case 'terminated':
      return 'The session was terminated (from the dashboard or the API).'
    case 'idle_timeout':
      return 'The session ended because it was idle for too long.'
    case 'max_lifetime':
      return 'The session reached its maximum lifetime.'
    case 'sandbox_lost':
      return 'The sandbox running this shell stopped unexpectedly.'
    case 'claim_failed':
      return 'The shell could not be started in its sandbox.'
    case 'gateway_teardown':
      return 'The gateway was torn down and ended every session.'
    default:
      return 'The session ended.'
  }
}

/** What a WebSocket close without an `exit` message means for the person watching. */
export function describeClose(code: number): string {
  switch (code) {
    case 1001:
      return 'The gateway restarted or is shutting down. The shell keeps running: reconnect.'
    case 1009:
      return 'A message was too large for the gateway; the connection was closed. Reconnect.'
    case 1011:
      return 'The gateway lost the connection to the sandbox.'
    default:
      return 'The connection to the terminal was lost. Reconnect.'
  }
}

/** "3.2 ms", "41 ms", "1.3 s". */
export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`
  if (ms < 1000) return `${Math.round(ms)} ms`
  return `${(ms / 1000).toFixed(1)} s`
}

/** "45 s", "12 min", "3 h 5 min". */
export function formatAge(s: number): string {
  if (s < 60) return `${Math.floor(s)} s`
  if (s < 3600) return `${Math.floor(s / 60)} min`
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
}

export const USER_PATTERN = '^[A-Za-z0-9._\\-]{1,64}$'
