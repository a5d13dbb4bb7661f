import { z } from 'zod'
import { policySchema } from '../spec/policy-schema.ts'
import { INSTANCE_TYPE_NAMES } from './costs.ts'

const pos = z.number().positive()
const nonneg = z.number().min(0)

export const durationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('constant'), valueS: nonneg }).strict(),
  z.object({ kind: z.literal('exponential'), meanS: pos }).strict(),
  z.object({ kind: z.literal('lognormal'), meanS: pos, sigma: z.number().positive().max(5) }).strict(),
  z.object({ kind: z.literal('uniform'), minS: nonneg, maxS: nonneg }).strict(),
  /** Measured values, drawn uniformly with replacement (`sim --starts-from` fills it from a replay). */
  z.object({ kind: z.literal('empirical'), valuesS: z.array(nonneg).min(1).max(1_000_000) }).strict(),
  /** Measured values and when they were measured (s on the scenario's clock): a draw at t picks among the `nearest` measured closest to t. */
  z.object({ kind: z.literal('timed'), atS: z.array(z.number()).min(1).max(1_000_000), valuesS: z.array(nonneg).min(1).max(1_000_000), nearest: z.number().int().min(1).default(16) }).strict()
    .refine((d) => d.atS.length === d.valuesS.length, { message: 'atS and valuesS need one entry each per measurement', path: ['atS'] }),
])

const poissonSchema = z.object({ kind: z.literal('poisson'), ratePerS: nonneg }).strict()
const diurnalSchema = z.object({
  kind: z.literal('diurnal'),
  /** 24 rates, one per local hour; or give peak/trough for a cosine day. */
  hourlyRatesPerS: z.array(nonneg).length(24).optional(),
  peakRatePerS: nonneg.optional(),
  troughRatePerS: nonneg.optional(),
  peakHour: z.number().min(0).max(24).default(14),
  /** Saturday and Sunday rates are multiplied by this. */
  weekendFactor: nonneg.default(1),
}).strict().superRefine((d, ctx) => {
  if (!d.hourlyRatesPerS && (d.peakRatePerS === undefined || d.troughRatePerS === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['hourlyRatesPerS'], message: 'give hourlyRatesPerS (24 rates) or both peakRatePerS and troughRatePerS' })
  }
})
const burstSchema = z.object({ atS: nonneg, durationS: pos, ratePerS: nonneg }).strict()
const burstsSchema = z.object({
  kind: z.literal('bursts'),
  base: z.discriminatedUnion('kind', [poissonSchema, diurnalSchema]),
  bursts: z.array(burstSchema).default([]),
  /** A burst every periodS seconds (from offsetS), on top of the listed ones. */
  every: z.object({ periodS: pos, offsetS: nonneg.default(0), durationS: pos, ratePerS: nonneg }).strict().optional(),
}).strict()
const traceSchema = z.object({
  kind: z.literal('trace'),
  /** CSV with a header: `t` (seconds from start) or `time` (ISO), optional `durationS`, `user`. */
  file: z.string().min(1),
}).strict()

export const arrivalsSchema = z.discriminatedUnion('kind', [poissonSchema, diurnalSchema, burstsSchema, traceSchema])

const hostsSchema = z.object({
  instanceType: z.enum(INSTANCE_TYPE_NAMES).default('m6i.large'),
  /** Sandbox slots per host. */
  slots: z.number().int().min(1).max(10_000),
  /** Hosts kept running whatever the load. */
  minRunning: z.number().int().min(0).default(0),
  maxHosts: z.number().int().min(1).default(100_000),
  /** ECS capacity-provider target: keep used slots at this % of running slots (< 100 = spare). */
  targetCapacityPct: z.number().min(1).max(100).default(100),
  /** An empty host above the target is stopped (or terminated) after this long. */
  scaleInAfterS: nonneg.default(300),
  /** Cold launch: boot until the host joins the cluster. */
  bootS: durationSchema.default({ kind: 'constant', valueS: 60 }),
  image: z.object({
    pullS: nonneg.default(44),
    /** pull: first start on a new host pulls; prepulled: pulled in user data (warm pool hosts have it); golden: baked into the AMI. */
    mode: z.enum(['pull', 'prepulled', 'golden']).default('pull'),
  }).strict().default({ pullS: 44, mode: 'pull' }),
  /** EC2 Auto Scaling warm pool. */
  warmPool: z.object({
    state: z.enum(['stopped', 'hibernated']).default('stopped'),
    size: z.number().int().min(0).default(0),
    stoppedStartS: durationSchema.default({ kind: 'constant', valueS: 22 }),
    hibernatedStartS: durationSchema.default({ kind: 'constant', valueS: 12 }),
  }).strict().optional(),
  ebsGb: pos.default(30),
  /** Fraction of launched hosts that are Spot. */
  spotFraction: z.number().min(0).max(1).default(0),
  interruptionsPerHour: nonneg.default(0),
  noticeS: nonneg.default(120),
  /** Hosts are spread over this many availability zones. */
  azs: z.number().int().min(1).max(6).default(1),
}).strict()

const fargateSchema = z.object({
  spot: z.boolean().default(false),
  /** Task start (placement, pull, container start) before the sandbox's own start. */
  startS: durationSchema.default({ kind: 'constant', valueS: 40 }),
  vcpu: pos.default(0.5),
  memoryGb: pos.default(1),
  interruptionsPerHour: nonneg.default(0),
  noticeS: nonneg.default(120),
  azs: z.number().int().min(1).max(6).default(1),
}).strict()

export const scenarioSchema = z.object({
  name: z.string().optional(),
  description: z.string().optional(),
  durationS: z.number().positive().max(400 * 86_400),
  /** Statistics ignore the first warmupS seconds. */
  warmupS: nonneg.default(0),
  seed: z.number().int(),
  /** Simulated start (policies see this wall time); 2026-01-05 is a Monday. */
  startAt: z.iso.datetime().default('2026-01-05T00:00:00Z'),
  arrivals: arrivalsSchema,
  sessionS: z.union([durationSchema, z.object({ kind: z.literal('trace') }).strict()]),
  sandbox: z.object({
    /** Time to start a sandbox on a ready host: the refill time B. */
    startS: durationSchema,
    /** Latency of a warm claim (the claim path itself). */
    claimS: nonneg.default(0),
    /**
     * A cold claim's own time once a sandbox is handed to it (the gateway's store write, agent
     * connect and workspace bind after the wait), drawn per cold claim; absent: claimS.
     */
    coldClaimS: durationSchema.optional(),
    /**
     * Creates share this many processors (without hosts or fargate): with n in flight each runs
     * at min(1, createCores / n) of its speed alone, and startS is its time alone. Absent:
     * creates do not slow each other.
     */
    createCores: pos.optional(),
    /** Cost of a sandbox-hour when there is no hosts/fargate section. */
    usdPerHour: nonneg.default(0),
  }).strict(),
  policy: policySchema,
  pool: z.object({
    minSize: z.number().int().min(0).default(0),
    maxSize: z.number().int().min(1).default(1_000_000),
    maxConcurrentCreates: z.number().int().min(1).default(1_000_000),
    /** Reconcile at least this often (the live controller's resync). */
    resyncS: pos.default(10),
    /** Warm-pool creates per minute, a token bucket as the gateway's; absent: no budget (the gateway's default is 600). */
    maxCreatesPerMin: z.number().int().min(1).max(1_000_000).optional(),
    /** Warm sandboxes older than this are replaced (0: never; the gateway's default is 3600). */
    maxWarmAgeS: nonneg.default(0),
    /** Share of creates that fail at the end of their start time, 0 to 1; failures back warm creates off as in the gateway. */
    createFailureRate: z.number({ error: 'must be a number from 0 to 1' }).min(0, 'must be from 0 to 1 (a share of creates)').max(1, 'must be from 0 to 1 (a share of creates)').default(0),
    /**
     * Which claim a finished create serves. `handOff` (the gateway): the oldest claim waiting,
     * whichever claim the create was started for; a cold start that finishes with no claim
     * waiting joins the pool. `own`: a cold claim waits for its own create, and refills only
     * fill the pool (the M/G/N/N loss system Erlang B describes).
     */
    coldClaims: z.enum(['handOff', 'own']).default('handOff'),
    /** Claims that may wait at once (handOff); one more is refused, as the gateway's maxClaimWaiters (its default is 64). */
    maxClaimWaiters: z.number().int().min(1).max(1_000_000).default(1_000_000),
  }).strict().default({ minSize: 0, maxSize: 1_000_000, maxConcurrentCreates: 1_000_000, resyncS: 10, maxWarmAgeS: 0, createFailureRate: 0, coldClaims: 'handOff', maxClaimWaiters: 1_000_000 }),
  hosts: hostsSchema.optional(),
  fargate: fargateSchema.optional(),
  azOutage: z.object({ az: z.number().int().min(0), atS: nonneg, durationS: pos }).strict().optional(),
  costs: z.object({
    usdPerHostHour: nonneg.optional(),
    spotDiscount: z.number().min(0).max(1).optional(),
    fargateUsdPerVcpuHour: nonneg.optional(),
    fargateUsdPerGbHour: nonneg.optional(),
    fargateSpotDiscount: z.number().min(0).max(1).optional(),
    ebsUsdPerGbMonth: nonneg.optional(),
  }).strict().default({}),
  /** Points in the time series (charts). */
  samples: z.number().int().min(2).max(10_000).default(288),
}).strict().superRefine((s, ctx) => {
  if (s.hosts && s.fargate) ctx.addIssue({ code: 'custom', path: ['fargate'], message: 'give either hosts or fargate, not both' })
  if (s.sandbox.createCores !== undefined && (s.hosts || s.fargate)) ctx.addIssue({ code: 'custom', path: ['sandbox', 'createCores'], message: 'models one machine without hosts or fargate: leave it out with them' })
  if (s.sessionS.kind === 'trace' && s.arrivals.kind !== 'trace') ctx.addIssue({ code: 'custom', path: ['sessionS', 'kind'], message: 'sessionS "trace" needs arrivals of kind "trace"' })
  if (s.warmupS >= s.durationS) ctx.addIssue({ code: 'custom', path: ['warmupS'], message: 'warmupS must be less than durationS' })
  if (s.pool.minSize > s.pool.maxSize) ctx.addIssue({ code: 'custom', path: ['pool', 'minSize'], message: 'minSize exceeds maxSize' })
  const az = s.hosts?.azs ?? s.fargate?.azs ?? 1
  if (s.azOutage && s.azOutage.az >= az) ctx.addIssue({ code: 'custom', path: ['azOutage', 'az'], message: `az must be below the number of AZs (${az})` })
})

export type Scenario = z.infer<typeof scenarioSchema>
export type ScenarioInput = z.input<typeof scenarioSchema>

export type ParseResult = { ok: true; scenario: Scenario } | { ok: false; errors: string[] }

/** Validates a scenario; errors name the field (`sandbox.startS.kind: ...`). */
export function parseScenario(input: unknown): ParseResult {
  const r = scenarioSchema.safeParse(input)
  if (r.success) return { ok: true, scenario: r.data }
  return { ok: false, errors: r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(scenario)'}: ${i.message}`) }
}
