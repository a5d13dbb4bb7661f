/** Errors of the pool's claim path; the gateway maps them by name to HTTP status. */
export class PoolError extends Error {}

/** ready + starting + claimed already reach the pool's maxSize. */
export class CapacityExhausted extends PoolError {
  override readonly name = 'CapacityExhausted'
  constructor(readonly pool: string, readonly maxSize: number) {
    super(`pool "${pool}" is at maxSize ${maxSize}: no sandbox can be started`)
  }
}

/** A cold start took longer than the claim may wait; the late sandbox is destroyed. */
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
