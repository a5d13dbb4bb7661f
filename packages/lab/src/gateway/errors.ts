import type { StoreUnavailableError } from '../store/errors.ts'

/**
 * The closed catalogue of API errors: code -> HTTP status and meaning. docs/api.md lists every
 * code (a test checks it), and the WebSocket close codes live beside them.
 */
export const ERROR_CODES = {
  unauthorized: { status: 401, meaning: 'Missing or wrong API key (`Authorization: Bearer <key>`).' },
  forbidden: { status: 403, meaning: 'The key may not do this: an admin-only route (keys, webhooks, audit) called with a scoped key, or a create for a user or pool outside the key\'s scope.' },
  invalid_token: { status: 401, meaning: 'Attach token missing, wrong, expired, or for another session.' },
  invalid_json: { status: 400, meaning: 'The body is not valid JSON.' },
  validation_failed: { status: 400, meaning: 'A field is missing, unknown or invalid; `details` names each field.' },
  body_too_large: { status: 413, meaning: 'The body exceeds the configured limit (`maxBodyBytes`).' },
  upload_too_large: { status: 413, meaning: 'The upload (a file, or stdin) exceeds `maxUploadBytes` (default 1 GiB): said by its `content-length`, or found while it streamed; nothing was written.' },
  unsupported_media_type: { status: 415, meaning: 'Bodies must be `application/json`; a file upload and stdin must be `application/octet-stream`.' },
  network_unavailable: { status: 400, meaning: "The session asked for a network (a policy other than `none`, or credentials) but its pool has none (`network: false`) or no egress proxy (a fake pool), or it asked for credentials where sandboxes do not trust the gateway's CA (ECS)." },
  not_found: { status: 404, meaning: 'No such route.' },
  session_not_found: { status: 404, meaning: 'No session with this id.' },
  pool_not_found: { status: 404, meaning: 'No pool with this name.' },
  key_not_found: { status: 404, meaning: 'No API key with this id.' },
  webhook_not_found: { status: 404, meaning: 'No webhook with this id.' },
  session_ended: { status: 409, meaning: 'The session has ended (also while the call ran); create a new one.' },
  idempotency_key_reused: { status: 409, meaning: 'This `Idempotency-Key` was used in the last 10 minutes for this session with another body or query; use a new key.' },
  process_not_found: { status: 404, meaning: 'No process with this id in the session (ended ones are kept up to 100).' },
  file_not_found: { status: 404, meaning: 'No file or directory at this path in the sandbox (or a parent is missing).' },
  permission_denied: { status: 403, meaning: "The session's user may not do this to this path in the sandbox." },
  path_conflict: { status: 409, meaning: 'The path is of the wrong kind: a directory where a file is needed, a file where a directory is, or a non-empty directory removed without `recursive=1`.' },
  exec_failed: { status: 422, meaning: 'The command could not start: no such program, or `cwd` is missing or not a directory.' },
  too_many_processes: { status: 429, meaning: "The session's sandbox runs as many processes as it may; retry after `Retry-After` seconds or end some." },
  insufficient_storage: { status: 507, meaning: "The user's workspace quota (or the sandbox's disk) is full; nothing was written." },
  quota_exceeded: { status: 429, meaning: 'As many sessions are open as a quota allows (the key\'s `maxSessions`, or `--max-sessions-per-user`), as many event streams as a key or the gateway may hold, or as many webhooks as the gateway keeps; `details` names the limit and its value. End or close one, or retry after `Retry-After`.' },
  rate_limited: { status: 429, meaning: 'The key created as many sessions as its `createsPerMin` allows; retry after `Retry-After` seconds. `details` names the limit and its value.' },
  capacity_exhausted: { status: 503, meaning: 'The pool has no ready sandbox and is at `maxSize`; retry after `Retry-After` seconds.' },
  claim_timeout: { status: 503, meaning: 'No warm sandbox and the cold start took longer than `claimTimeoutMs`; retry after `Retry-After`.' },
  pool_unavailable: { status: 503, meaning: 'The pool cannot start sandboxes right now (driver failing, backing off); retry after `Retry-After`.' },
  session_unavailable: { status: 503, meaning: 'The gateway restarted and has not reconnected to this session yet; retry after `Retry-After`.' },
  store_unavailable: { status: 503, meaning: 'The gateway cannot reach its database (PostgreSQL down, restarting or unreachable, or a statement timed out); retry after `Retry-After`.' },
  claim_failed: { status: 500, meaning: 'Binding the workspace or applying the claim in the sandbox failed; the sandbox was destroyed.' },
  internal: { status: 500, meaning: 'Unexpected error; the gateway logged it.' },
} as const satisfies Record<string, { status: number; meaning: string }>

export type ErrorCode = keyof typeof ERROR_CODES

export interface ErrorDetail {
  readonly field: string
  readonly message: string
  /** A quota refusal's limit and its value. */
  readonly limit?: string
  readonly value?: number
}

export class ApiError extends Error {
  override readonly name = 'ApiError'
  readonly status: number
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: readonly ErrorDetail[],
    readonly retryAfterS?: number,
  ) {
    super(message)
    this.status = ERROR_CODES[code].status
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: readonly ErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } }
  }
}

/** A call the store could not complete because the database is out of reach: 503 with Retry-After. */
export function storeUnavailable(err: StoreUnavailableError): ApiError {
  return new ApiError('store_unavailable', 'the gateway cannot reach its database; retry later', undefined, err.retryAfterS)
}

/** WebSocket close codes of the terminal endpoint. */
export const WS_CLOSE_CODES = {
  1000: 'The session ended; an `exit` text frame was sent first.',
  1001: 'The gateway is shutting down; the shell keeps running: re-attach later with a fresh token.',
  1003: 'A text frame was not a valid control message.',
  1009: 'A frame exceeded the size limit (`wsMaxFrameBytes`, default 1 MiB).',
  1011: 'The gateway lost the connection to the sandbox unexpectedly.',
  1013: 'Try again later: this viewer fell too far behind the output (more than 4 MiB waiting in the gateway). The shell goes on and the scrollback keeps the tail: re-attach to continue.',
} as const
export const WS_CLOSE = { normal: 1000, goingAway: 1001, unsupported: 1003, tooBig: 1009, internal: 1011, tryAgainLater: 1013 } as const
