import type { PoolCounts, SandboxState } from '../store/types.ts'

/**
 * Every sandbox a pool owns, by what it is doing. A sandbox is owned from the moment its store
 * row is written (before the driver starts it) until its row is deleted (after the driver
 * destroyed it), so `total` is never below what runs on the host for the pool.
 */
export interface PoolSandboxCounts {
  /** Warm, waiting for any claim. */
  readonly ready: number
  /** Refills being started for the warm pool (create called, no hello yet). */
  readonly starting: number
  /** Cold starts for claims that found nothing warm: from the create until their claim takes them. */
  readonly coldStarting: number
  /** Bound to a session. */
  readonly claimed: number
  /** Being destroyed: retired warm sandboxes, sandboxes of ended sessions, leftovers of failed starts. */
  readonly destroying: number
  /** The sum of the above. */
  readonly total: number
}

/**
 * Classifies one snapshot of the pool's store rows; each row is counted exactly once.
 * `isColdStart` is what the controller knows and the rows do not: which starts serve a waiting
 * claim (from the create until the claim takes the sandbox).
 */
export function countSandboxes(rows: readonly { readonly id: string; readonly state: SandboxState }[], isColdStart: (id: string) => boolean): PoolSandboxCounts {
  let ready = 0
  let starting = 0
  let coldStarting = 0
  let claimed = 0
  let destroying = 0
  for (const r of rows) {
    switch (r.state) {
      case 'starting':
        if (isColdStart(r.id)) coldStarting++
        else starting++
        break
      case 'warm':
        if (isColdStart(r.id)) coldStarting++
        else ready++
        break
      case 'claimed':
        claimed++
        break
      case 'destroying':
        destroying++
        break
    }
  }
  return { ready, starting, coldStarting, claimed, destroying, total: rows.length }
}

/** The `state` label of lab_pool_sandboxes (a closed set) and the count each one reports. */
export const POOL_SANDBOX_STATES = [
  ['ready', 'ready'], ['starting', 'starting'], ['cold_starting', 'coldStarting'], ['claimed', 'claimed'], ['destroying', 'destroying'],
] as const satisfies readonly (readonly [string, keyof PoolSandboxCounts])[]

/**
 * What counts against a pool's maxSize: its sandboxes not being destroyed as the store has them
 * (every replica's), or, when more, the ready and claimed ones plus this controller's own starts
 * in flight (a start whose row is not written yet). A quick check before a cold start: the
 * create's insert checks again, atomically (Store.insertSandboxWithin).
 */
export function sizeAgainstMax(counts: PoolCounts, ownInFlight: number): number {
  return Math.max(counts.starting + counts.warm + counts.claimed, counts.warm + counts.claimed + ownInFlight)
}
