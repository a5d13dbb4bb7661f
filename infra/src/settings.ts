import { checkDnsDomain } from './dns-firewall.ts'
import type { WarmPoolState } from './shell-cluster.ts'

/** What the original lab's Terraform variables made configurable (docs/aws.md maps them). */
export interface LabSettings {
  readonly region?: string
  readonly account?: string
  readonly instanceType: string
  readonly asgMin: number
  readonly asgMax: number
  readonly warmPoolSize: number
  readonly warmPoolState: WarmPoolState
  readonly taskCpu: number
  readonly taskMemoryMiB: number
  readonly sandboxImage: string
  readonly gatewayImage: string
  /** Use the AI shell image (agent + AI CLIs) instead of the plain sandbox image. */
  readonly useAiShellImage: boolean
  readonly aiShellImage: string
  readonly useGoldenAmi: boolean
  readonly goldenAmiParameter: string
  readonly fargate: boolean
  readonly interfaceEndpoints: boolean
  /** NAT gateways, one per AZ up to the VPC's AZs; 1 is cheapest, but losing its AZ cuts every private subnet's way out. */
  readonly natGateways: number
  readonly targetCapacityPercent: number
  readonly certificateArn?: string
  /** Gateway tasks, spread over the AZs, sharing one PostgreSQL; 2 or more put the egress proxy behind an internal NLB. */
  readonly gatewayReplicas: number
  /** Aurora Serverless v2 capacity range of the gateways' database, in ACUs (0.5 steps). */
  readonly databaseMinCapacityAcu: number
  readonly databaseMaxCapacityAcu: number
  /** Reader instances (in other AZs than the writer): failover targets. 0: a failover recreates the writer. */
  readonly databaseReaders: number
  readonly databaseDeletionProtection: boolean
  /** Automated backups (point-in-time restore) kept this many days, 1..35. */
  readonly databaseBackupRetentionDays: number
  /**
   * Path of the Amazon RDS CA bundle inside the gateway image. Set: the gateways verify the
   * database's certificate (`sslmode=verify-full`); unset: TLS without verification (`sslmode=no-verify`).
   */
  readonly databaseCaFile?: string
  /** Route 53 Resolver DNS Firewall on the VPC: AWS and registry names plus `dnsAllow`, everything else NXDOMAIN. */
  readonly dnsFirewall: boolean
  /**
   * More names anything in the VPC may resolve (`example.com`, `*.example.com`). The egress proxy
   * resolves through the same VPC resolver, so this is also the ceiling of every session's allow-list.
   */
  readonly dnsAllow: readonly string[]
}

export const DEFAULT_SETTINGS: LabSettings = {
  instanceType: 'm6i.large', asgMin: 0, asgMax: 4, warmPoolSize: 2, warmPoolState: 'Stopped',
  taskCpu: 512, taskMemoryMiB: 1024,
  sandboxImage: 'public.ecr.aws/infra-lab/sandbox:latest', gatewayImage: 'public.ecr.aws/infra-lab/gateway:latest',
  useAiShellImage: false, aiShellImage: 'public.ecr.aws/infra-lab/ai-shell:latest',
  useGoldenAmi: false, goldenAmiParameter: '/infra-lab/golden-ami', fargate: true, interfaceEndpoints: true, natGateways: 1, targetCapacityPercent: 100,
  gatewayReplicas: 2, dnsFirewall: true, dnsAllow: [],
  databaseMinCapacityAcu: 0.5, databaseMaxCapacityAcu: 4, databaseReaders: 1, databaseDeletionProtection: true, databaseBackupRetentionDays: 7,
}

const NUMBERS = ['asgMin', 'asgMax', 'warmPoolSize', 'taskCpu', 'taskMemoryMiB', 'targetCapacityPercent', 'natGateways', 'gatewayReplicas', 'databaseReaders', 'databaseBackupRetentionDays'] as const
/** Non-negative numbers in steps of 0.5. */
const HALVES = ['databaseMinCapacityAcu', 'databaseMaxCapacityAcu'] as const
const BOOLEANS = ['useAiShellImage', 'useGoldenAmi', 'fargate', 'interfaceEndpoints', 'dnsFirewall', 'databaseDeletionProtection'] as const
const STRINGS = ['region', 'account', 'instanceType', 'sandboxImage', 'gatewayImage', 'aiShellImage', 'goldenAmiParameter', 'certificateArn', 'databaseCaFile'] as const

/** Settings from CDK context (`-c key=value`: strings), checked; throws listing every problem. */
export function settingsFromContext(get: (key: string) => unknown): LabSettings {
  const out: Record<string, unknown> = { ...DEFAULT_SETTINGS }
  const errors: string[] = []
  for (const k of NUMBERS) {
    const v = get(k)
    if (v === undefined) continue
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0) errors.push(`${k} must be a non-negative integer`)
    else out[k] = n
  }
  for (const k of HALVES) {
    const v = get(k)
    if (v === undefined) continue
    const n = Number(v)
    if (!Number.isInteger(n * 2) || n < 0) errors.push(`${k} must be a non-negative multiple of 0.5`)
    else out[k] = n
  }
  for (const k of BOOLEANS) {
    const v = get(k)
    if (v !== undefined) out[k] = v === true || v === 'true'
  }
  for (const k of STRINGS) {
    const v = get(k)
    if (typeof v === 'string' && v !== '') out[k] = v
  }
  const dnsAllow = get('dnsAllow')
  if (dnsAllow !== undefined) {
    // `-c dnsAllow=a.com,*.b.org` gives a string; cdk.json may hold an array.
    const items = Array.isArray(dnsAllow) ? dnsAllow.map(String) : String(dnsAllow).split(',').map((d) => d.trim()).filter(Boolean)
    for (const d of items) {
      const problem = checkDnsDomain(d)
      if (problem) errors.push(`dnsAllow: ${JSON.stringify(d)} ${problem}`)
    }
    out.dnsAllow = Object.freeze(items.map((d) => d.toLowerCase()))
  }
  const state = get('warmPoolState')
  if (state !== undefined) {
    if (state === 'Stopped' || state === 'Hibernated' || state === 'Running') out.warmPoolState = state
    else errors.push('warmPoolState must be Stopped, Hibernated or Running')
  }
  const s = out as unknown as LabSettings
  if (s.asgMin > s.asgMax) errors.push(`asgMin ${s.asgMin} exceeds asgMax ${s.asgMax}`)
  if (s.warmPoolSize > s.asgMax) errors.push(`warmPoolSize ${s.warmPoolSize} exceeds asgMax ${s.asgMax}`)
  if (s.gatewayReplicas < 1) errors.push('gatewayReplicas must be at least 1')
  if (s.natGateways < 1 || s.natGateways > 3) errors.push('natGateways must be 1..3')
  // 0 ACU would let the cluster pause, which it never does while gateways hold their connections.
  if (s.databaseMinCapacityAcu < 0.5) errors.push('databaseMinCapacityAcu must be at least 0.5')
  if (s.databaseMaxCapacityAcu > 256) errors.push('databaseMaxCapacityAcu must be at most 256')
  if (s.databaseMinCapacityAcu > s.databaseMaxCapacityAcu) errors.push(`databaseMinCapacityAcu ${s.databaseMinCapacityAcu} exceeds databaseMaxCapacityAcu ${s.databaseMaxCapacityAcu}`)
  if (s.databaseReaders > 15) errors.push('databaseReaders must be at most 15')
  if (s.databaseBackupRetentionDays < 1 || s.databaseBackupRetentionDays > 35) errors.push('databaseBackupRetentionDays must be 1..35')
  // It goes into the database URL's query unescaped.
  if (s.databaseCaFile !== undefined && !/^\/[A-Za-z0-9._/-]+$/.test(s.databaseCaFile)) errors.push('databaseCaFile must be an absolute path of letters, digits and . _ / -')
  if (s.targetCapacityPercent < 1 || s.targetCapacityPercent > 100) errors.push('targetCapacityPercent must be 1..100')
  if (errors.length > 0) throw new Error(`infra settings: ${errors.join('; ')}`)
  return Object.freeze(s)
}
