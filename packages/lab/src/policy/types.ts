import type { PolicySpec } from '../spec/policy-schema.ts'

/** What a policy needs of a pool spec. */
export interface PolicyPoolSpec {
  readonly minSize: number
  readonly maxSize: number
  readonly policy: PolicySpec
}

/** What the controller (or the simulator) observed about a pool at `now`. */
export interface PoolObservation {
  /** Sandboxes that said hello and wait for a claim. */
  readonly ready: number
  /** Creates in flight. */
  readonly starting: number
  /** Sandboxes bound to a session. */
  readonly claimed: number
  /** Claims per second over the policy's window. */
  readonly claimRatePerS: number
  /** Mean time from create to ready, in seconds (the refill time B). */
  readonly meanStartS: number
  /** Claim history for the `predictive` kind; without it, predictive sizes on the current rate. */
  readonly claimHistory?: ClaimHistoryView
}

/** Past claim rates, read-only: what `predictive` looks up (same hour yesterday, last week). */
export interface ClaimHistoryView {
  /** Claims per second in the history bucket holding `tMs`, or undefined if not recorded. */
  ratePerSAt(tMs: number): number | undefined
}

export interface PoolDecision {
  /** Number of sandboxes to keep ready or starting (the warm target). */
  readonly target: number
  /** Short, human-readable explanation (not a metric label). */
  readonly why: string
}

export type PoolPolicy = (spec: PolicyPoolSpec, observed: PoolObservation, now: number) => PoolDecision
