import { CapacityExhausted, ClaimTimeout } from '../pool/errors.ts'
import { StoreUnavailableError } from '../store/errors.ts'
import { ApiError, storeUnavailable } from './errors.ts'
import type { PoolRuntime } from '../pool/runtime.ts'

/** Maps why a cold start could not happen to the API's 503 errors (with Retry-After). */
export function toCapacityError(err: unknown, pool: PoolRuntime): ApiError {
  if (err instanceof StoreUnavailableError) return storeUnavailable(err)
  if (err instanceof CapacityExhausted) {
    return new ApiError('capacity_exhausted', `pool "${pool.spec.name}" has no ready sandbox and is at maxSize ${pool.spec.maxSize}`, undefined, 5)
  }
  if (err instanceof ClaimTimeout) {
    return new ApiError('claim_timeout', `no warm sandbox, and a cold start took longer than ${pool.spec.claimTimeoutMs} ms`, undefined, 2)
  }
  return new ApiError('pool_unavailable', `pool "${pool.spec.name}" cannot start a sandbox: ${err instanceof Error ? err.message : String(err)}`, undefined, 5)
}
