import { z } from 'zod'

/** Where each field of the `ecs` section comes from besides the config file (flag > env > file). */
export const ECS_SOURCES = {
  cluster: { flag: '--cluster', env: 'INFRA_LAB_ECS_CLUSTER' },
  taskDefinition: { flag: '--task-definition', env: 'INFRA_LAB_ECS_TASK_DEFINITION' },
  subnets: { flag: '--subnets', env: 'INFRA_LAB_ECS_SUBNETS' },
  securityGroups: { flag: '--security-groups', env: 'INFRA_LAB_ECS_SECURITY_GROUPS' },
  capacityProviders: { flag: '--capacity-provider', env: 'INFRA_LAB_ECS_CAPACITY_PROVIDERS' },
  /** Where sandbox tasks reach the gateway's egress proxy (the NLB's name with replicas); default: this task's own private IPv4. */
  proxyHost: { flag: '--proxy-host', env: 'INFRA_LAB_ECS_PROXY_HOST' },
  /** A secret: environment or file only, never a flag (flags show up in `ps`). */
  agentKey: { flag: undefined, env: 'INFRA_LAB_ECS_AGENT_KEY' },
} as const

export type EcsField = keyof typeof ECS_SOURCES

/** The ECS flags as the CLI parsed them (strings, comma-separated lists allowed). */
export interface EcsFlags {
  readonly cluster?: string
  readonly taskDefinition?: string
  readonly subnets?: string
  readonly securityGroups?: string
  /** Repeatable: `name[:weight[:base]]`, each may itself be comma-separated. */
  readonly capacityProvider?: readonly string[]
  readonly proxyHost?: string
}

const CAPACITY_PROVIDER_RE = /^([A-Za-z0-9_-]{1,255})(?::(\d{1,4}))?(?::(\d{1,6}))?$/

/** `a, b` or `["a", "b"]`: the same list from a flag, the environment or the file. */
const list = (item: z.ZodString) => z.union([z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)), z.array(z.string())])
  .pipe(z.array(item))

const capacityProvider = z.string().regex(CAPACITY_PROVIDER_RE, 'must be name[:weight[:base]], e.g. lab-ec2:1:0 or FARGATE_SPOT:1')
  .transform((s) => {
    const [, capacityProvider, weight = '1', base = '0'] = CAPACITY_PROVIDER_RE.exec(s)!
    return { capacityProvider: capacityProvider!, weight: Number(weight), base: Number(base) }
  })

/** The `ecs` section: what `--driver ecs` needs. Required fields are cross-checked by the loader. */
export const ecsConfigSchema = z.object({
  cluster: z.string().min(1).optional(),
  /** family:revision or ARN. */
  taskDefinition: z.string().min(1).optional(),
  /** Private subnets of the tasks (never a public IP). */
  subnets: list(z.string().regex(/^subnet-[0-9a-z]+$/, 'must be a subnet id (subnet-…)')).pipe(z.array(z.string()).max(16)).optional(),
  securityGroups: list(z.string().regex(/^sg-[0-9a-z]+$/, 'must be a security group id (sg-…)')).pipe(z.array(z.string()).max(5)).optional(),
  /** Empty: the cluster's default capacity provider strategy. */
  capacityProviders: list(z.string()).pipe(z.array(capacityProvider)).optional(),
  /** 32+ characters (64+ hex digits are taken as bytes); default: generated into `<dataDir>/ecs-agent-key`. */
  agentKey: z.string().min(32, 'must be at least 32 characters (or 64 hex digits)').optional(),
  /** Host name or address sandbox tasks use for HTTP_PROXY (docs/aws.md, "Network policy on ECS"). */
  proxyHost: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'must be a host name or an IPv4 address').optional(),
  /** Port of the ECS egress proxy in the gateway task; default 3128 (what the security groups open); 0: any (tests). */
  proxyPort: z.number().int().min(0).max(65_535).optional(),
  /** Address the ECS egress proxy listens on in the gateway task; default 0.0.0.0. */
  proxyListen: z.string().min(1).optional(),
  /** Default: the SDK's (AWS_REGION, the profile). */
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region such as eu-west-1').optional(),
}).strict()

export type EcsConfig = z.infer<typeof ecsConfigSchema>

/** The section as the environment gives it (unset and empty variables are left out). */
export function ecsFromEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [field, { env: name }] of Object.entries(ECS_SOURCES)) {
    const v = env[name]
    if (v !== undefined && v !== '') out[field] = v
  }
  return out
}

/** The section as the flags give it (undefined: not given). */
export function ecsFromFlags(flags: EcsFlags): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  if (flags.cluster !== undefined) out.cluster = flags.cluster
  if (flags.taskDefinition !== undefined) out.taskDefinition = flags.taskDefinition
  if (flags.subnets !== undefined) out.subnets = flags.subnets
  if (flags.securityGroups !== undefined) out.securityGroups = flags.securityGroups
  if (flags.proxyHost !== undefined) out.proxyHost = flags.proxyHost
  if (flags.capacityProvider !== undefined && flags.capacityProvider.length > 0) {
    out.capacityProviders = flags.capacityProvider.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean)
  }
  return out
}

/** Every required field the ecs driver lacks, each saying where to set it. */
export function missingEcsFields(ecs: EcsConfig | undefined): string[] {
  const errors: string[] = []
  for (const field of ['cluster', 'taskDefinition', 'subnets'] as const) {
    const v = ecs?.[field]
    if (v === undefined || v.length === 0) {
      const { flag, env } = ECS_SOURCES[field]
      errors.push(`ecs.${field}: required by the ecs driver (${flag}, ${env}, or "ecs": {"${field}": …} in the config file)`)
    }
  }
  return errors
}
