/**
 * Default prices: us-east-1, Linux, on-demand, from third-party price listings of 2026 (not an
 * AWS quote). Every figure can be overridden by a scenario's `costs` section.
 */
export const INSTANCE_TYPES = {
  't3.medium': { usdPerHour: 0.0416, vcpu: 2, memoryGb: 4 },
  't3.large': { usdPerHour: 0.0832, vcpu: 2, memoryGb: 8 },
  'm6i.large': { usdPerHour: 0.096, vcpu: 2, memoryGb: 8 },
  'm6i.xlarge': { usdPerHour: 0.192, vcpu: 4, memoryGb: 16 },
  'c6i.large': { usdPerHour: 0.085, vcpu: 2, memoryGb: 4 },
  'c6i.xlarge': { usdPerHour: 0.17, vcpu: 4, memoryGb: 8 },
} as const
export type InstanceType = keyof typeof INSTANCE_TYPES
export const INSTANCE_TYPE_NAMES = Object.keys(INSTANCE_TYPES) as [InstanceType, ...InstanceType[]]

export const DEFAULT_COSTS = {
  /** Spot price as a fraction off on-demand ("about 70% off"). */
  spotDiscount: 0.7,
  fargateUsdPerVcpuHour: 0.04048,
  fargateUsdPerGbHour: 0.004445,
  fargateSpotDiscount: 0.7,
  /** EBS gp3; a stopped instance pays only this, a hibernated one also its RAM size on disk. */
  ebsUsdPerGbMonth: 0.08,
} as const

export const HOURS_PER_MONTH = 730

/** The table in docs/sim.md and the results file, generated from the constants above. */
export function costTableMarkdown(): string {
  const rows = Object.entries(INSTANCE_TYPES).map(([k, v]) => `| ${k} | ${v.vcpu} | ${v.memoryGb} | $${v.usdPerHour} | $${round4(v.usdPerHour * (1 - DEFAULT_COSTS.spotDiscount))} |`)
  return [
    'Defaults: us-east-1, Linux, on-demand, third-party price listings of 2026 (not an AWS quote); override per scenario under `costs`.',
    '',
    '| instance | vCPU | GiB | on-demand $/h | spot $/h (~70% off) |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `Fargate x86: $${DEFAULT_COSTS.fargateUsdPerVcpuHour} per vCPU-hour + $${DEFAULT_COSTS.fargateUsdPerGbHour} per GB-hour; Fargate Spot ~70% off.`,
    `EBS gp3: $${DEFAULT_COSTS.ebsUsdPerGbMonth} per GB-month (${HOURS_PER_MONTH} h); a stopped or hibernated instance pays only its EBS (plus its RAM on disk when hibernated).`,
  ].join('\n')
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000
