/** A state change the store refuses (e.g. marking a sandbox warm that is not starting). */
export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError'
}

/** How long a caller is told to wait (Retry-After) when the database cannot be reached. */
export const STORE_RETRY_AFTER_S = 2

/**
 * The database cannot be reached (refused or lost connection, server shutting down, a connect or
 * query timeout): the call did not complete and may be retried. A networked store throws it
 * instead of hanging; the gateway answers 503 `store_unavailable` with Retry-After.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError'
  readonly retryAfterS = STORE_RETRY_AFTER_S
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}
