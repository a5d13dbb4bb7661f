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
  readonly targetCapacityPercent: number
  readonly certificateArn?: string
  /** Gateway tasks; 2 or more put the egress proxy behind an internal NLB (needs a shared store first). */
  readonly gatewayReplicas: number
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
  useGoldenAmi: false, goldenAmiParameter: '/infra-lab/golden-ami', fargate: true, interfaceEndpoints: true, targetCapacityPercent: 100,
  gatewayReplicas: 1, dnsFirewall: true, dnsAllow: [],
}

const NUMBERS = ['asgMin', 'asgMax', 'warmPoolSize', 'taskCpu', 'taskMemoryMiB', 'targetCapacityPercent', 'gatewayReplicas'] as const
const BOOLEANS = ['useAiShellImage', 'useGoldenAmi', 'fargate', 'interfaceEndpoints', 'dnsFirewall'] as const
const STRINGS = ['region', 'account', 'instanceType', 'sandboxImage', 'gatewayImage', 'aiShellImage', 'goldenAmiParameter', 'certificateArn'] as const

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
  if (s.targetCapacityPercent < 1 || s.targetCapacityPercent > 100) errors.push('targetCapacityPercent must be 1..100')
  if (errors.length > 0) throw new Error(`infra settings: ${errors.join('; ')}`)
  return Object.freeze(s)
}
