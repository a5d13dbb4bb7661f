import { decideErlang } from './erlang.ts'
import { decideFixed } from './fixed.ts'
import { decidePredictive } from './predictive.ts'
import { decideScheduled } from './scheduled.ts'
import type { PolicySpec } from '../spec/policy-schema.ts'
import type { PolicyPoolSpec, PoolDecision, PoolObservation } from './types.ts'

export type { ClaimHistoryView, PolicyPoolSpec, PoolDecision, PoolObservation, PoolPolicy } from './types.ts'
export { ClaimHistory, claimHistoryFor, DAY_MS, HOUR_MS, WEEK_MS } from './history.ts'
export { forecastRatePerS } from './predictive.ts'
export { erlangB, erlangServers } from './erlang.ts'

export type PolicyKind = PolicySpec['kind']
type PolicyOf<K extends PolicyKind> = Extract<PolicySpec, { kind: K }>

/** How one kind sizes a pool, before clamping. Pure: no clock, timers or I/O. */
export type PolicyDecider<K extends PolicyKind> = (
  policy: PolicyOf<K>, spec: PolicyPoolSpec, observed: PoolObservation, now: number,
) => PoolDecision

/**
 * Every policy kind and its decider. A new kind is added to policySchema in schema.ts and
 * here; the mapped type makes a missing entry a type error.
 */
export const POLICIES: { readonly [K in PolicyKind]: PolicyDecider<K> } = {
  fixed: decideFixed,
  erlang: decideErlang,
  scheduled: decideScheduled,
  predictive: decidePredictive,
}

/** Clamps a raw target to [minSize, maxSize - claimed]; the upper bound wins, never below 0. */
export function clampTarget(raw: number, spec: PolicyPoolSpec, claimed: number): number {
  const upper = Math.max(0, spec.maxSize - claimed)
  return Math.min(Math.max(Math.ceil(raw), spec.minSize), upper)
}

/**
 * The one pool-sizing entry point, shared by the live gateway and the simulator: dispatches
 * on spec.policy.kind, then clamps. Pure: the same inputs always give the same decision.
 */
export function decide(spec: PolicyPoolSpec, observed: PoolObservation, now: number): PoolDecision {
  const decider = POLICIES[spec.policy.kind] as PolicyDecider<PolicyKind>
  const raw = decider(spec.policy, spec, observed, now)
  const target = clampTarget(raw.target, spec, observed.claimed)
  if (target === raw.target) return raw
  return { target, why: `${raw.why}; clamped to ${target} (min ${spec.minSize}, max ${spec.maxSize}, claimed ${observed.claimed})` }
}
