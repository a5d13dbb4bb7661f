import type { ApiErrorCode } from './error-codes.generated.ts'

/** Codes the SDK itself raises when no answer of the gateway's catalogue could be had. */
export type ClientErrorCode =
  | 'unreachable' // the request never got an HTTP answer (connection refused, DNS, TLS, reset)
  | 'bad_response' // an answer that is not what the API promises (not JSON, a stream cut short)

export type InfraLabErrorCode = ApiErrorCode | ClientErrorCode

export interface ErrorDetail {
  readonly field: string
  readonly message: string
}

export interface ErrorInit {
  /** The HTTP status the gateway answered (0 when there was no answer). */
  readonly status?: number
  /** For `validation_failed`: one entry per bad field. */
  readonly details?: readonly ErrorDetail[]
  /** From `Retry-After`: when a retry may succeed (503s). */
  readonly retryAfterS?: number
  readonly cause?: unknown
}

/**
 * Every error the SDK throws for a failed call: `code` is one of the gateway's closed catalogue
 * (docs/api.md, Errors) or a client-side code. Each catalogue code has its own subclass
 * (errors.generated.ts), so `err instanceof SessionEndedError` reads as the condition it is.
 */
export class InfraLabError extends Error {
  override name = 'InfraLabError'
  readonly code: InfraLabErrorCode
  readonly status: number
  // declared, not defined: absent ones stay absent (a class field would be set to undefined)
  declare readonly details?: readonly ErrorDetail[]
  declare readonly retryAfterS?: number

  constructor(code: InfraLabErrorCode, status: number, message: string, init: ErrorInit = {}) {
    super(message, init.cause !== undefined ? { cause: init.cause } : undefined)
    this.code = code
    this.status = init.status ?? status
    if (init.details) (this as { details?: readonly ErrorDetail[] }).details = init.details
    if (init.retryAfterS !== undefined) (this as { retryAfterS?: number }).retryAfterS = init.retryAfterS
  }
}

/** No HTTP answer at all: the gateway is down, unreachable, or the connection broke. */
export class GatewayUnreachableError extends InfraLabError {
  override name = 'GatewayUnreachableError'
  constructor(message: string, init: ErrorInit = {}) {
    super('unreachable', 0, message, init)
  }
}

/** The gateway answered something the API does not promise (an old gateway, a proxy's page, a cut stream). */
export class BadResponseError extends InfraLabError {
  override name = 'BadResponseError'
  constructor(message: string, init: ErrorInit = {}) {
    super('bad_response', init.status ?? 0, message, init)
  }
}
