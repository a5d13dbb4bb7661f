/** Errors of the pool's claim path; the gateway maps them by name to HTTP status. */
export class PoolError extends Error {}

/**
 * ready + starting + claimed already reach the pool's maxSize, and no sandbox on its way is free
 * for this claim; or (`waiters` set) as many claims as maxClaimWaiters already wait.
 */
export class CapacityExhausted extends PoolError {
  override readonly name = 'CapacityExhausted'
  constructor(readonly pool: string, readonly maxSize: number, readonly waiters?: number) {
    super(waiters === undefined
      ? `pool "${pool}" is at maxSize ${maxSize}: no sandbox can be started`
      : `pool "${pool}" is at maxSize ${maxSize} and ${waiters} claims already wait for a sandbox (maxClaimWaiters)`)
  }
}

/** No sandbox reached a waiting claim within claimTimeoutMs; one that arrives later is an ordinary warm sandbox. */
export class ClaimTimeout extends PoolError {
  override readonly name = 'ClaimTimeout'
  constructor(readonly pool: string, readonly timeoutMs: number) {
    super(`pool "${pool}": a cold start took longer than ${timeoutMs} ms`)
  }
}

/** The controller is stopping and starts nothing new. */
export class PoolStopped extends PoolError {
  override readonly name = 'PoolStopped'
  constructor(readonly pool: string) {
    super(`pool "${pool}" is stopping`)
  }
}

/** The claim's caller went away while it waited; the sandbox it waited for goes to the next claim. */
export class ClaimCancelled extends PoolError {
  override readonly name = 'ClaimCancelled'
  constructor(readonly pool: string) {
    super(`pool "${pool}": the claim was cancelled while it waited for a sandbox`)
  }
}
