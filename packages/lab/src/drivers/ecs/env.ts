import type { CapacityProviderStrategyItem } from '@aws-sdk/client-ecs'
import type { Logger } from 'pino'
import type { EcsDriverOptions } from './options.ts'

/** Environment variables the ECS driver is configured from (set by the Gateway construct). */
export const ECS_ENV = {
  cluster: 'INFRA_LAB_ECS_CLUSTER',
  taskDefinition: 'INFRA_LAB_ECS_TASK_DEFINITION',
  subnets: 'INFRA_LAB_ECS_SUBNETS',
  securityGroups: 'INFRA_LAB_ECS_SECURITY_GROUPS',
  /** Comma-separated `provider[:weight[:base]]`, e.g. `lab-ec2:1:0,FARGATE_SPOT:1`. */
  capacityProviders: 'INFRA_LAB_ECS_CAPACITY_PROVIDERS',
  /** 64+ hex digits, or any string of 32+ characters (a Secrets Manager password); per-task keys derive from it. */
  agentKey: 'INFRA_LAB_ECS_AGENT_KEY',
  region: 'AWS_REGION',
} as const

const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean)

/** ECS driver options from the environment, or every problem at once. */
export function ecsOptionsFromEnv(env: Readonly<Record<string, string | undefined>>, logger: Logger): { options: EcsDriverOptions } | { errors: string[] } {
  const errors: string[] = []
  for (const k of ['cluster', 'taskDefinition', 'subnets', 'agentKey'] as const) if (!env[ECS_ENV[k]]) errors.push(`${ECS_ENV[k]} is required for --driver ecs`)
  const keyHex = env[ECS_ENV.agentKey] ?? ''
  const isHex = /^([0-9a-f]{2}){32,}$/i.test(keyHex)
  if (keyHex && !isHex && keyHex.length < 32) errors.push(`${ECS_ENV.agentKey} must be 64+ hex digits or 32+ characters`)
  const strategy: CapacityProviderStrategyItem[] = []
  for (const item of list(env[ECS_ENV.capacityProviders])) {
    const [capacityProvider, weight = '1', base = '0'] = item.split(':')
    if (!capacityProvider || !/^\d+$/.test(weight) || !/^\d+$/.test(base)) errors.push(`${ECS_ENV.capacityProviders}: bad item ${JSON.stringify(item)} (provider[:weight[:base]])`)
    else strategy.push({ capacityProvider, weight: Number(weight), base: Number(base) })
  }
  if (errors.length > 0) return { errors }
  return {
    options: {
      cluster: env[ECS_ENV.cluster]!, taskDefinition: env[ECS_ENV.taskDefinition]!,
      subnets: list(env[ECS_ENV.subnets]), securityGroups: list(env[ECS_ENV.securityGroups]),
      capacityProviderStrategy: strategy, agentKey: isHex ? Buffer.from(keyHex, 'hex') : Buffer.from(keyHex, 'utf8'), logger,
      ...(env[ECS_ENV.region] ? { region: env[ECS_ENV.region] } : {}),
    },
  }
}
