import { createHash } from 'node:crypto'
import { ApiError } from './errors.ts'

/** How long a key's first result is returned to its retries. */
export const IDEMPOTENCY_TTL_MS = 10 * 60_000
/** Keys remembered at once, and the result bytes they may hold (a foreground result can be 32 MiB). */
export const IDEMPOTENCY_MAX_KEYS = 1000
export const IDEMPOTENCY_MAX_BYTES = 256 * 1024 * 1024

export interface Outcome {
  readonly status: number
  readonly body: unknown
}

interface Entry {
  readonly fingerprint: string
  readonly result: Promise<Outcome>
  readonly expiresAt: number
  settled: boolean
  bytes: number
}

/**
 * Remembers the outcome of a call made with an `Idempotency-Key`, per session, for
 * IDEMPOTENCY_TTL_MS: a retry gets the first call's outcome instead of running it again, and a
 * retry that arrives while the first still runs waits for it. The same key with another request
 * is refused. A 4xx answer is an outcome too (it would be the same again); a 5xx is forgotten so a
 * retry can succeed. Bounded in keys and bytes: past either, the oldest finished keys go first.
 */
export class IdempotencyCache {
  private readonly entries = new Map<string, Entry>()
  private bytes = 0

  constructor(private readonly now: () => number = Date.now) {}

  async run(scope: string, key: string, request: unknown, call: () => Promise<Outcome>): Promise<Outcome> {
    this.expire()
    const id = `${scope}\n${key}`
    const fingerprint = createHash('sha256').update(JSON.stringify(request)).digest('hex')
    const seen = this.entries.get(id)
    if (seen) {
      if (seen.fingerprint !== fingerprint) {
        throw new ApiError('idempotency_key_reused', 'this Idempotency-Key was used for a different request in this session; use a new key')
      }
      return seen.result
    }
    const entry: Entry = { fingerprint, result: call(), expiresAt: this.now() + IDEMPOTENCY_TTL_MS, settled: false, bytes: 0 }
    this.entries.set(id, entry)
    this.evict()
    entry.result.then(
      (outcome) => {
        entry.settled = true
        entry.bytes = JSON.stringify(outcome.body ?? null).length
        if (this.entries.get(id) === entry) this.bytes += entry.bytes
        this.evict()
      },
      (err: unknown) => {
        entry.settled = true
        const kept = err instanceof ApiError && err.status < 500
        if (!kept && this.entries.get(id) === entry) this.entries.delete(id)
      },
    )
    return entry.result
  }

  get size(): number {
    return this.entries.size
  }

  private expire(): void {
    const now = this.now()
    for (const [id, e] of this.entries) {
      if (e.expiresAt > now) break // insertion order is expiry order
      this.drop(id, e)
    }
  }

  private evict(): void {
    for (const [id, e] of this.entries) {
      if (this.entries.size <= IDEMPOTENCY_MAX_KEYS && this.bytes <= IDEMPOTENCY_MAX_BYTES) return
      // a key still running stays: a retry arriving meanwhile must not start a second run
      if (e.settled) this.drop(id, e)
    }
  }

  private drop(id: string, e: Entry): void {
    this.entries.delete(id)
    this.bytes -= e.bytes
  }
}
