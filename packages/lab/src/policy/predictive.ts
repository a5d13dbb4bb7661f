import { erlangServers } from './erlang.ts'
import type { PolicySpec } from '../spec/policy-schema.ts'
import type { PolicyPoolSpec, PoolDecision, PoolObservation } from './types.ts'

type PredictivePolicy = Extract<PolicySpec, { kind: 'predictive' }>

/**
 * Forecast claim rate for the refill window [now, now + E[B]]: the same moment yesterday and
 * last week, weighted; the observed rate where neither is recorded (and as a floor when
 * `floorAtObserved`). Pure.
 */
export function forecastRatePerS(policy: PredictivePolicy, observed: PoolObservation, now: number): { ratePerS: number; from: string } {
  const mid = now + (observed.meanStartS * 1000) / 2
  const h = observed.claimHistory
  const dayMs = policy.dayS * 1000
  const yday = h?.ratePerSAt(mid - dayMs)
  const week = h?.ratePerSAt(mid - 7 * dayMs)
  let rate: number
  let from: string
  if (yday !== undefined && week !== undefined) {
    rate = policy.yesterdayWeight * yday + (1 - policy.yesterdayWeight) * week
    from = 'yesterday+last week'
  } else if (yday !== undefined) {
    rate = yday
    from = 'yesterday'
  } else if (week !== undefined) {
    rate = week
    from = 'last week'
  } else {
    return { ratePerS: observed.claimRatePerS, from: 'observed (no history)' }
  }
  if (policy.floorAtObserved && observed.claimRatePerS > rate) return { ratePerS: observed.claimRatePerS, from: 'observed (above forecast)' }
  return { ratePerS: rate, from }
}

/** `predictive`: forecast λ for the next refill window from history, then size it like `erlang`. */
export function decidePredictive(policy: PredictivePolicy, spec: PolicyPoolSpec, observed: PoolObservation, now: number): PoolDecision {
  const { ratePerS, from } = forecastRatePerS(policy, observed, now)
  if (ratePerS <= 0) return { target: spec.minSize, why: `predictive: λ=0 from ${from}, keep minSize` }
  const load = ratePerS * observed.meanStartS
  const target = erlangServers(load, policy.targetMissRate, spec.maxSize)
  return { target, why: `predictive: λ=${round(ratePerS)}/s from ${from} × E[B]=${round(observed.meanStartS)}s, miss <= ${policy.targetMissRate} needs ${target}` }
}

const round = (x: number) => Math.round(x * 1000) / 1000
