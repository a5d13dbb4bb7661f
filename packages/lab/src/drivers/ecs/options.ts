import type { CapacityProviderStrategyItem } from '@aws-sdk/client-ecs'
import type { Logger } from 'pino'

export const DEFAULT_AGENT_PORT = 7100
export const DEFAULT_CONTAINER_NAME = 'sandbox'
/** `startedBy` of every task this driver runs (ListTasks filters on it). */
export const DEFAULT_STARTED_BY = 'infra-lab'
export const DEFAULT_POLL_INTERVAL_MS = 1000
/** SDK attempts per call: throttling and 5xx are retried with jittered exponential back-off. */
export const DEFAULT_MAX_ATTEMPTS = 6
const MIN_AGENT_KEY_BYTES = 32

export interface EcsDriverOptions {
  readonly cluster: string
  readonly taskDefinition: string
  /** Private subnets; tasks never get a public IP. */
  readonly subnets: readonly string[]
  readonly securityGroups: readonly string[]
  /** Empty: the cluster's default strategy. */
  readonly capacityProviderStrategy?: readonly CapacityProviderStrategyItem[]
  readonly containerName?: string
  /** TCP port the agent serves TLS-PSK on inside the task. */
  readonly agentPort?: number
  readonly startedBy?: string
  /** Gateway secret (>= 32 bytes) every per-task key is derived from; never sent to a task. */
  readonly agentKey: Buffer
  readonly pollIntervalMs?: number
  readonly maxAttempts?: number
  readonly region?: string
  readonly logger: Logger
}

export interface ResolvedEcsOptions extends Required<Omit<EcsDriverOptions, 'region' | 'logger'>> {
  readonly region: string | undefined
}

/** Normalizes and checks the options; throws one message listing everything to fix. */
export function resolveEcsOptions(o: EcsDriverOptions): ResolvedEcsOptions {
  const errors: string[] = []
  if (!o.cluster) errors.push('cluster is required (--cluster)')
  if (!o.taskDefinition) errors.push('taskDefinition is required (--task-definition)')
  if (o.subnets.length === 0) errors.push('at least one subnet is required (--subnets)')
  if (o.subnets.length > 16) errors.push('at most 16 subnets')
  if (o.securityGroups.length > 5) errors.push('at most 5 security groups')
  if (o.agentKey.length < MIN_AGENT_KEY_BYTES) errors.push(`agentKey must be at least ${MIN_AGENT_KEY_BYTES} bytes`)
  const agentPort = o.agentPort ?? DEFAULT_AGENT_PORT
  if (!Number.isInteger(agentPort) || agentPort < 1 || agentPort > 65_535) errors.push('agentPort must be an integer from 1 to 65535')
  const startedBy = o.startedBy ?? DEFAULT_STARTED_BY
  if (!/^[A-Za-z0-9_-]{1,36}$/.test(startedBy)) errors.push('startedBy must match ^[A-Za-z0-9_-]{1,36}$')
  if (errors.length > 0) throw new Error(`ecs driver options: ${errors.join('; ')}`)
  return Object.freeze({
    cluster: o.cluster,
    taskDefinition: o.taskDefinition,
    subnets: [...o.subnets],
    securityGroups: [...o.securityGroups],
    capacityProviderStrategy: [...(o.capacityProviderStrategy ?? [])],
    containerName: o.containerName ?? DEFAULT_CONTAINER_NAME,
    agentPort,
    startedBy,
    agentKey: o.agentKey,
    pollIntervalMs: o.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    maxAttempts: o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    region: o.region,
  })
}
