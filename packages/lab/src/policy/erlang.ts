import type { PolicySpec } from '../spec/policy-schema.ts'
import type { PolicyPoolSpec, PoolDecision, PoolObservation } from './types.ts'

type ErlangPolicy = Extract<PolicySpec, { kind: 'erlang' }>

/**
 * Erlang B: probability that an arrival finds all `servers` busy when `offeredLoad` erlangs
 * are offered to a loss system. Stable recursion B(0)=1, B(n)=a·B(n-1)/(n+a·B(n-1)).
 */
export function erlangB(servers: number, offeredLoad: number): number {
  if (!Number.isInteger(servers) || servers < 0) throw new RangeError(`servers must be a non-negative integer, got ${servers}`)
  if (!(offeredLoad >= 0) || !Number.isFinite(offeredLoad)) throw new RangeError(`offered load must be finite and >= 0, got ${offeredLoad}`)
  let b = 1
  for (let n = 1; n <= servers; n++) b = (offeredLoad * b) / (n + offeredLoad * b)
  return b
}

/**
 * Smallest N with ErlangB(N, offeredLoad) <= targetMissRate, searching no further than
 * `limit` (returned when even `limit` servers miss more often than the target).
 */
export function erlangServers(offeredLoad: number, targetMissRate: number, limit: number): number {
  let b = 1
  for (let n = 0; n < limit; n++) {
    if (b <= targetMissRate) return n
    b = (offeredLoad * b) / (n + 1 + offeredLoad * b)
  }
  return limit
}

/**
 * `erlang`: a warm pool with refill is an M/G/N/N loss system. With claim rate λ and mean
 * refill time E[B], the pool needs the smallest N whose Erlang B at load λ·E[B] is at most
 * the target miss rate. No claims observed: minSize (the clamp applies it).
 */
export function decideErlang(policy: ErlangPolicy, spec: PolicyPoolSpec, observed: PoolObservation): PoolDecision {
  const lambda = observed.claimRatePerS
  if (lambda <= 0) return { target: spec.minSize, why: 'erlang: no claims observed, keep minSize' }
  const load = lambda * observed.meanStartS
  const target = erlangServers(load, policy.targetMissRate, spec.maxSize)
  return {
    target,
    why: `erlang: λ=${round(lambda)}/s × E[B]=${round(observed.meanStartS)}s = ${round(load)} erlangs, miss <= ${policy.targetMissRate} needs ${target}`,
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000
