import type { Tag, Task } from '@aws-sdk/client-ecs'
import type { SandboxHandle } from '../types.ts'

export const TAG_SANDBOX_ID = 'infra-lab:sandbox-id'
export const TAG_POOL = 'infra-lab:pool'
export const TAG_CREATED_AT = 'infra-lab:created-at'

export function sandboxTags(id: string, pool: string, createdAt: number): Tag[] {
  return [
    { key: TAG_SANDBOX_ID, value: id },
    { key: TAG_POOL, value: pool },
    { key: TAG_CREATED_AT, value: String(createdAt) },
  ]
}

export function tagOf(task: Task, key: string): string | undefined {
  return task.tags?.find((t) => t.key === key)?.value
}

/** The task's private IPv4 address (awsvpc network mode: its ENI attachment). */
export function privateIpOf(task: Task): string | undefined {
  for (const a of task.attachments ?? []) {
    const ip = a.details?.find((d) => d.name === 'privateIPv4Address')?.value
    if (ip) return ip
  }
  for (const c of task.containers ?? []) {
    const ip = c.networkInterfaces?.find((n) => n.privateIpv4Address)?.privateIpv4Address
    if (ip) return ip
  }
  return undefined
}

/** A handle for a RUNNING task of ours, or undefined when the task is not one (or not reachable yet). */
export function handleOf(task: Task, agentPort: number, startMs?: number): SandboxHandle | undefined {
  const id = tagOf(task, TAG_SANDBOX_ID)
  const pool = tagOf(task, TAG_POOL)
  const host = privateIpOf(task)
  if (!id || !pool || !host || !task.taskArn) return undefined
  const createdAt = Number(tagOf(task, TAG_CREATED_AT) ?? task.createdAt?.getTime() ?? 0)
  const meta: Record<string, string | number | boolean> = { taskArn: task.taskArn }
  if (task.capacityProviderName) meta.capacityProvider = task.capacityProviderName
  if (task.availabilityZone) meta.availabilityZone = task.availabilityZone
  if (task.pullStartedAt && task.pullStoppedAt) meta.pullMs = task.pullStoppedAt.getTime() - task.pullStartedAt.getTime()
  return {
    id, pool, driver: 'ecs', createdAt, address: { kind: 'tcp', host, port: agentPort }, meta,
    ...(startMs === undefined ? {} : { startMs }),
  }
}
