// One error class per code of the gateway's closed catalogue (packages/lab/src/gateway/errors.ts).
// Regenerate with `npm run generate -w @infra-lab/sdk` (runs packages/sdk/test/generated.test.ts with --update); do not edit.
import { InfraLabError, type ErrorInit } from './errors.ts'

/** `unauthorized` (HTTP 401): Missing or wrong API key (`Authorization: Bearer <key>`). */
export class UnauthorizedError extends InfraLabError {
  override name = 'UnauthorizedError'
  static readonly code = 'unauthorized'
  constructor(message: string, init: ErrorInit = {}) {
    super('unauthorized', 401, message, init)
  }
}

/** `forbidden` (HTTP 403): The key may not do this: an admin-only route (keys, webhooks, audit) called with a scoped key, or a create for a user or pool outside the key's scope. */
export class ForbiddenError extends InfraLabError {
  override name = 'ForbiddenError'
  static readonly code = 'forbidden'
  constructor(message: string, init: ErrorInit = {}) {
    super('forbidden', 403, message, init)
  }
}

/** `invalid_token` (HTTP 401): Attach token missing, wrong, expired, or for another session. */
export class InvalidTokenError extends InfraLabError {
  override name = 'InvalidTokenError'
  static readonly code = 'invalid_token'
  constructor(message: string, init: ErrorInit = {}) {
    super('invalid_token', 401, message, init)
  }
}

/** `invalid_json` (HTTP 400): The body is not valid JSON. */
export class InvalidJsonError extends InfraLabError {
  override name = 'InvalidJsonError'
  static readonly code = 'invalid_json'
  constructor(message: string, init: ErrorInit = {}) {
    super('invalid_json', 400, message, init)
  }
}

/** `validation_failed` (HTTP 400): A field is missing, unknown or invalid; `details` names each field. */
export class ValidationFailedError extends InfraLabError {
  override name = 'ValidationFailedError'
  static readonly code = 'validation_failed'
  constructor(message: string, init: ErrorInit = {}) {
    super('validation_failed', 400, message, init)
  }
}

/** `body_too_large` (HTTP 413): The body exceeds the configured limit (`maxBodyBytes`). */
export class BodyTooLargeError extends InfraLabError {
  override name = 'BodyTooLargeError'
  static readonly code = 'body_too_large'
  constructor(message: string, init: ErrorInit = {}) {
    super('body_too_large', 413, message, init)
  }
}

/** `upload_too_large` (HTTP 413): The upload (a file, or stdin) exceeds `maxUploadBytes` (default 1 GiB): said by its `content-length`, or found while it streamed; nothing was written. */
export class UploadTooLargeError extends InfraLabError {
  override name = 'UploadTooLargeError'
  static readonly code = 'upload_too_large'
  constructor(message: string, init: ErrorInit = {}) {
    super('upload_too_large', 413, message, init)
  }
}

/** `unsupported_media_type` (HTTP 415): Bodies must be `application/json`; a file upload and stdin must be `application/octet-stream`. */
export class UnsupportedMediaTypeError extends InfraLabError {
  override name = 'UnsupportedMediaTypeError'
  static readonly code = 'unsupported_media_type'
  constructor(message: string, init: ErrorInit = {}) {
    super('unsupported_media_type', 415, message, init)
  }
}

/** `network_unavailable` (HTTP 400): The session asked for a network (a policy other than `none`, or credentials) but its pool has none (`network: false`) or no egress proxy (a fake pool), or it asked for credentials where sandboxes do not trust the gateway's CA (ECS). */
export class NetworkUnavailableError extends InfraLabError {
  override name = 'NetworkUnavailableError'
  static readonly code = 'network_unavailable'
  constructor(message: string, init: ErrorInit = {}) {
    super('network_unavailable', 400, message, init)
  }
}

/** `not_found` (HTTP 404): No such route. */
export class NotFoundError extends InfraLabError {
  override name = 'NotFoundError'
  static readonly code = 'not_found'
  constructor(message: string, init: ErrorInit = {}) {
    super('not_found', 404, message, init)
  }
}

/** `session_not_found` (HTTP 404): No session with this id. */
export class SessionNotFoundError extends InfraLabError {
  override name = 'SessionNotFoundError'
  static readonly code = 'session_not_found'
  constructor(message: string, init: ErrorInit = {}) {
    super('session_not_found', 404, message, init)
  }
}

/** `pool_not_found` (HTTP 404): No pool with this name. */
export class PoolNotFoundError extends InfraLabError {
  override name = 'PoolNotFoundError'
  static readonly code = 'pool_not_found'
  constructor(message: string, init: ErrorInit = {}) {
    super('pool_not_found', 404, message, init)
  }
}

/** `key_not_found` (HTTP 404): No API key with this id. */
export class KeyNotFoundError extends InfraLabError {
  override name = 'KeyNotFoundError'
  static readonly code = 'key_not_found'
  constructor(message: string, init: ErrorInit = {}) {
    super('key_not_found', 404, message, init)
  }
}

/** `webhook_not_found` (HTTP 404): No webhook with this id. */
export class WebhookNotFoundError extends InfraLabError {
  override name = 'WebhookNotFoundError'
  static readonly code = 'webhook_not_found'
  constructor(message: string, init: ErrorInit = {}) {
    super('webhook_not_found', 404, message, init)
  }
}

/** `session_ended` (HTTP 409): The session has ended (also while the call ran); create a new one. */
export class SessionEndedError extends InfraLabError {
  override name = 'SessionEndedError'
  static readonly code = 'session_ended'
  constructor(message: string, init: ErrorInit = {}) {
    super('session_ended', 409, message, init)
  }
}

/** `idempotency_key_reused` (HTTP 409): This `Idempotency-Key` was used in the last 10 minutes for this session with another body or query; use a new key. */
export class IdempotencyKeyReusedError extends InfraLabError {
  override name = 'IdempotencyKeyReusedError'
  static readonly code = 'idempotency_key_reused'
  constructor(message: string, init: ErrorInit = {}) {
    super('idempotency_key_reused', 409, message, init)
  }
}

/** `process_not_found` (HTTP 404): No process with this id in the session (ended ones are kept up to 100). */
export class ProcessNotFoundError extends InfraLabError {
  override name = 'ProcessNotFoundError'
  static readonly code = 'process_not_found'
  constructor(message: string, init: ErrorInit = {}) {
    super('process_not_found', 404, message, init)
  }
}

/** `file_not_found` (HTTP 404): No file or directory at this path in the sandbox (or a parent is missing). */
export class FileNotFoundError extends InfraLabError {
  override name = 'FileNotFoundError'
  static readonly code = 'file_not_found'
  constructor(message: string, init: ErrorInit = {}) {
    super('file_not_found', 404, message, init)
  }
}

/** `permission_denied` (HTTP 403): The session's user may not do this to this path in the sandbox. */
export class PermissionDeniedError extends InfraLabError {
  override name = 'PermissionDeniedError'
  static readonly code = 'permission_denied'
  constructor(message: string, init: ErrorInit = {}) {
    super('permission_denied', 403, message, init)
  }
}

/** `path_conflict` (HTTP 409): The path is of the wrong kind: a directory where a file is needed, a file where a directory is, or a non-empty directory removed without `recursive=1`. */
export class PathConflictError extends InfraLabError {
  override name = 'PathConflictError'
  static readonly code = 'path_conflict'
  constructor(message: string, init: ErrorInit = {}) {
    super('path_conflict', 409, message, init)
  }
}

/** `exec_failed` (HTTP 422): The command could not start: no such program, or `cwd` is missing or not a directory. */
export class ExecFailedError extends InfraLabError {
  override name = 'ExecFailedError'
  static readonly code = 'exec_failed'
  constructor(message: string, init: ErrorInit = {}) {
    super('exec_failed', 422, message, init)
  }
}

/** `too_many_processes` (HTTP 429): The session's sandbox runs as many processes as it may; retry after `Retry-After` seconds or end some. */
export class TooManyProcessesError extends InfraLabError {
  override name = 'TooManyProcessesError'
  static readonly code = 'too_many_processes'
  constructor(message: string, init: ErrorInit = {}) {
    super('too_many_processes', 429, message, init)
  }
}

/** `insufficient_storage` (HTTP 507): The user's workspace quota (or the sandbox's disk) is full; nothing was written. */
export class InsufficientStorageError extends InfraLabError {
  override name = 'InsufficientStorageError'
  static readonly code = 'insufficient_storage'
  constructor(message: string, init: ErrorInit = {}) {
    super('insufficient_storage', 507, message, init)
  }
}

/** `quota_exceeded` (HTTP 429): As many sessions are open as a quota allows (the key's `maxSessions`, or `--max-sessions-per-user`), as many event streams as a key or the gateway may hold, or as many webhooks as the gateway keeps; `details` names the limit and its value. End or close one, or retry after `Retry-After`. */
export class QuotaExceededError extends InfraLabError {
  override name = 'QuotaExceededError'
  static readonly code = 'quota_exceeded'
  constructor(message: string, init: ErrorInit = {}) {
    super('quota_exceeded', 429, message, init)
  }
}

/** `rate_limited` (HTTP 429): The key created as many sessions as its `createsPerMin` allows; retry after `Retry-After` seconds. `details` names the limit and its value. */
export class RateLimitedError extends InfraLabError {
  override name = 'RateLimitedError'
  static readonly code = 'rate_limited'
  constructor(message: string, init: ErrorInit = {}) {
    super('rate_limited', 429, message, init)
  }
}

/** `capacity_exhausted` (HTTP 503): The pool has no ready sandbox and is at `maxSize`; retry after `Retry-After` seconds. */
export class CapacityExhaustedError extends InfraLabError {
  override name = 'CapacityExhaustedError'
  static readonly code = 'capacity_exhausted'
  constructor(message: string, init: ErrorInit = {}) {
    super('capacity_exhausted', 503, message, init)
  }
}

/** `claim_timeout` (HTTP 503): No warm sandbox and the cold start took longer than `claimTimeoutMs`; retry after `Retry-After`. */
export class ClaimTimeoutError extends InfraLabError {
  override name = 'ClaimTimeoutError'
  static readonly code = 'claim_timeout'
  constructor(message: string, init: ErrorInit = {}) {
    super('claim_timeout', 503, message, init)
  }
}

/** `pool_unavailable` (HTTP 503): The pool cannot start sandboxes right now (driver failing, backing off); retry after `Retry-After`. */
export class PoolUnavailableError extends InfraLabError {
  override name = 'PoolUnavailableError'
  static readonly code = 'pool_unavailable'
  constructor(message: string, init: ErrorInit = {}) {
    super('pool_unavailable', 503, message, init)
  }
}

/** `session_unavailable` (HTTP 503): The gateway restarted and has not reconnected to this session yet; retry after `Retry-After`. */
export class SessionUnavailableError extends InfraLabError {
  override name = 'SessionUnavailableError'
  static readonly code = 'session_unavailable'
  constructor(message: string, init: ErrorInit = {}) {
    super('session_unavailable', 503, message, init)
  }
}

/** `store_unavailable` (HTTP 503): The gateway cannot reach its database (PostgreSQL down, restarting or unreachable, or a statement timed out); retry after `Retry-After`. */
export class StoreUnavailableError extends InfraLabError {
  override name = 'StoreUnavailableError'
  static readonly code = 'store_unavailable'
  constructor(message: string, init: ErrorInit = {}) {
    super('store_unavailable', 503, message, init)
  }
}

/** `claim_failed` (HTTP 500): Binding the workspace or applying the claim in the sandbox failed; the sandbox was destroyed. */
export class ClaimFailedError extends InfraLabError {
  override name = 'ClaimFailedError'
  static readonly code = 'claim_failed'
  constructor(message: string, init: ErrorInit = {}) {
    super('claim_failed', 500, message, init)
  }
}

/** `internal` (HTTP 500): Unexpected error; the gateway logged it. */
export class InternalError extends InfraLabError {
  override name = 'InternalError'
  static readonly code = 'internal'
  constructor(message: string, init: ErrorInit = {}) {
    super('internal', 500, message, init)
  }
}

/** Every catalogue code: its HTTP status and the class the SDK throws for it. */
export const ERROR_CATALOGUE = {
  unauthorized: { status: 401, errorClass: UnauthorizedError },
  forbidden: { status: 403, errorClass: ForbiddenError },
  invalid_token: { status: 401, errorClass: InvalidTokenError },
  invalid_json: { status: 400, errorClass: InvalidJsonError },
  validation_failed: { status: 400, errorClass: ValidationFailedError },
  body_too_large: { status: 413, errorClass: BodyTooLargeError },
  upload_too_large: { status: 413, errorClass: UploadTooLargeError },
  unsupported_media_type: { status: 415, errorClass: UnsupportedMediaTypeError },
  network_unavailable: { status: 400, errorClass: NetworkUnavailableError },
  not_found: { status: 404, errorClass: NotFoundError },
  session_not_found: { status: 404, errorClass: SessionNotFoundError },
  pool_not_found: { status: 404, errorClass: PoolNotFoundError },
  key_not_found: { status: 404, errorClass: KeyNotFoundError },
  webhook_not_found: { status: 404, errorClass: WebhookNotFoundError },
  session_ended: { status: 409, errorClass: SessionEndedError },
  idempotency_key_reused: { status: 409, errorClass: IdempotencyKeyReusedError },
  process_not_found: { status: 404, errorClass: ProcessNotFoundError },
  file_not_found: { status: 404, errorClass: FileNotFoundError },
  permission_denied: { status: 403, errorClass: PermissionDeniedError },
  path_conflict: { status: 409, errorClass: PathConflictError },
  exec_failed: { status: 422, errorClass: ExecFailedError },
  too_many_processes: { status: 429, errorClass: TooManyProcessesError },
  insufficient_storage: { status: 507, errorClass: InsufficientStorageError },
  quota_exceeded: { status: 429, errorClass: QuotaExceededError },
  rate_limited: { status: 429, errorClass: RateLimitedError },
  capacity_exhausted: { status: 503, errorClass: CapacityExhaustedError },
  claim_timeout: { status: 503, errorClass: ClaimTimeoutError },
  pool_unavailable: { status: 503, errorClass: PoolUnavailableError },
  session_unavailable: { status: 503, errorClass: SessionUnavailableError },
  store_unavailable: { status: 503, errorClass: StoreUnavailableError },
  claim_failed: { status: 500, errorClass: ClaimFailedError },
  internal: { status: 500, errorClass: InternalError },
} as const
