import type { PolicySpec } from '../spec/policy-schema.ts'
import type { PoolDecision } from './types.ts'

type FixedPolicy = Extract<PolicySpec, { kind: 'fixed' }>

/** `fixed`: keep `size` sandboxes ready or starting, whatever the demand. */
export function decideFixed(policy: FixedPolicy): PoolDecision {
  return { target: policy.size, why: `fixed size ${policy.size}` }
}
