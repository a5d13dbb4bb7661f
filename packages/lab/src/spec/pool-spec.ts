import { z } from 'zod'
import { networkPolicySchema, type NetworkPolicy } from './network-policy.ts'
import { policySchema } from './policy-schema.ts'

export const POOL_NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/
export const DRIVER_NAMES = ['local', 'docker', 'ecs', 'fake'] as const
export type DriverName = (typeof DRIVER_NAMES)[number]

export const limitsSchema = z.object({
  /** Most processes the sandbox may run at once. */
  pids: z.number().int().min(8).max(65_536).default(256),
  /** Memory limit of the whole sandbox, in MiB. */
  memoryMb: z.number().int().min(32).max(1_048_576).default(512),
  /** CPU limit, in cores (fractions allowed). */
  cpus: z.number().min(0.05).max(256).default(1),
}).strict()

/** A pool spec: owned by the operator, validated, never written by the controller. */
export const poolSpecSchema = z.object({
  name: z.string().regex(POOL_NAME_RE, 'must match ^[a-z0-9][a-z0-9-]{0,31}$'),
  driver: z.enum(DRIVER_NAMES).default('local'),
  minSize: z.number().int().min(0).max(10_000).default(0),
  /** Most sandboxes of this pool at once: ready + starting + claimed. */
  maxSize: z.number().int().min(1).max(10_000).default(64),
  policy: policySchema.default({ kind: 'fixed', size: 4 }),
  /** How long a claim may wait for a cold start before it fails with 503. */
  claimTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  /**
   * Most claims that wait at once for a sandbox on its way (a cold start or a refill); one more
   * is refused with 503 capacity_exhausted.
   */
  maxClaimWaiters: z.number().int().min(1).max(10_000).default(64),
  /** A session with no terminal input or output for this long ends (0: never). */
  idleTimeoutS: z.number().int().min(0).max(7 * 86_400).default(1800),
  /** A session ends this long after it started (0: never). */
  maxLifetimeS: z.number().int().min(0).max(30 * 86_400).default(86_400),
  /** Warm sandboxes older than this are replaced (0: never). */
  maxWarmAgeS: z.number().int().min(0).max(30 * 86_400).default(3600),
  maxConcurrentCreates: z.number().int().min(1).max(1000).default(4),
  maxCreatesPerMin: z.number().int().min(1).max(100_000).default(600),
  /**
   * Whether sandboxes of this pool get a network (none by default): each its own namespace whose
   * only way out is the gateway's egress proxy. `true` alone means sessions' default policy is
   * `{"egress": "open"}`; `false` means `none`, and a session cannot ask for more.
   */
  network: z.boolean().default(false),
  /** The network policy of sessions that bring none (needs `network: true` unless it is `none`). */
  egress: networkPolicySchema.optional(),
  limits: limitsSchema.default({ pids: 256, memoryMb: 512, cpus: 1 }),
}).strict()
  .superRefine((s, ctx) => {
    if (s.minSize > s.maxSize) ctx.addIssue({ code: 'custom', path: ['minSize'], message: `minSize ${s.minSize} exceeds maxSize ${s.maxSize}` })
    if (!s.network && s.egress && s.egress.egress !== 'none') {
      ctx.addIssue({ code: 'custom', path: ['egress'], message: `egress "${s.egress.egress}" needs network: true` })
    }
    if (s.policy.kind === 'fixed' && s.policy.size > s.maxSize) {
      ctx.addIssue({ code: 'custom', path: ['policy', 'size'], message: `size ${s.policy.size} exceeds maxSize ${s.maxSize}` })
    }
  })

export type PoolSpec = z.infer<typeof poolSpecSchema>
export type PoolSpecInput = z.input<typeof poolSpecSchema>
export type SandboxLimits = z.infer<typeof limitsSchema>

/** The policy a session of this pool gets when it brings none; null when the pool has no network. */
export function defaultNetworkPolicy(spec: PoolSpec): NetworkPolicy | null {
  if (!spec.network) return null
  return spec.egress ?? { egress: 'open' }
}
