import { z } from 'zod'
import { predictivePolicySchema, scheduledPolicySchema } from './time-schema.ts'

export { predictivePolicySchema, scheduledPolicySchema, scheduleRuleSchema, WEEKDAYS, type Weekday } from './time-schema.ts'

/**
 * Pool-sizing policy, shared by the gateway's pool specs and the simulator's scenarios.
 * Every kind is decided by a pure function in this folder.
 */
export const fixedPolicySchema = z.object({
  kind: z.literal('fixed'),
  /** Number of sandboxes to keep ready or starting. */
  size: z.number().int().min(0).max(10_000),
}).strict()

export const erlangPolicySchema = z.object({
  kind: z.literal('erlang'),
  /** Largest acceptable probability that a claim finds no ready sandbox (Erlang B). */
  targetMissRate: z.number().gt(0).lt(1),
  /** Window over which the claim rate is observed, in seconds. */
  windowS: z.number().int().min(10).max(86_400).default(300),
}).strict()

export const policySchema = z.discriminatedUnion('kind', [fixedPolicySchema, erlangPolicySchema, scheduledPolicySchema, predictivePolicySchema])
export type PolicySpec = z.infer<typeof policySchema>
export type PolicyInput = z.input<typeof policySchema>
