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
}

export const DEFAULT_SETTINGS: LabSettings = {
  instanceType: 'm6i.large', asgMin: 0, asgMax: 4, warmPoolSize: 2, warmPoolState: 'Stopped',
  taskCpu: 512, taskMemoryMiB: 1024,
  sandboxImage: 'public.ecr.aws/infra-lab/sandbox:latest', gatewayImage: 'public.ecr.aws/infra-lab/gateway:latest',
  useAiShellImage: false, aiShellImage: 'public.ecr.aws/infra-lab/ai-shell:latest',
  useGoldenAmi: false, goldenAmiParameter: '/infra-lab/golden-ami', fargate: true, interfaceEndpoints: true, targetCapacityPercent: 100,
}

const NUMBERS = ['asgMin', 'asgMax', 'warmPoolSize', 'taskCpu', 'taskMemoryMiB', 'targetCapacityPercent'] as const
const BOOLEANS = ['useAiShellImage', 'useGoldenAmi', 'fargate', 'interfaceEndpoints'] as const
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
  const state = get('warmPoolState')
  if (state !== undefined) {
    if (state === 'Stopped' || state === 'Hibernated' || state === 'Running') out.warmPoolState = state
    else errors.push('warmPoolState must be Stopped, Hibernated or Running')
  }
  const s = out as unknown as LabSettings
  if (s.asgMin > s.asgMax) errors.push(`asgMin ${s.asgMin} exceeds asgMax ${s.asgMax}`)
  if (s.warmPoolSize > s.asgMax) errors.push(`warmPoolSize ${s.warmPoolSize} exceeds asgMax ${s.asgMax}`)
  if (s.targetCapacityPercent < 1 || s.targetCapacityPercent > 100) errors.push('targetCapacityPercent must be 1..100')
  if (errors.length > 0) throw new Error(`infra settings: ${errors.join('; ')}`)
  return Object.freeze(s)
}
