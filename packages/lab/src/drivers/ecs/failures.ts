import type { Failure, Task } from '@aws-sdk/client-ecs'
import { DriverError } from '../types.ts'

/** Why a task stopped, as a closed set (metric label values, session end reasons). */
export type TaskStopReason = 'spot_interruption' | 'capacity' | 'image_pull' | 'stopped_by_gateway' | 'exited' | 'unknown'

/**
 * RunTask `failures[].reason` values that mean "no room now, try later": the EC2 instances lack
 * memory/CPU/ENIs/ports, no container instance has a connected agent, or Fargate (Spot) is out.
 */
const CAPACITY_REASON_RE = /^(RESOURCE:(MEMORY|CPU|ENI|PORTS|GPU)|AGENT)\b|capacity is unavailable|insufficient capacity/i
/** Exceptions meaning the same (capacity providers scaling, Fargate out of capacity). */
const CAPACITY_EXCEPTIONS = new Set(['LimitExceededException', 'PlatformTaskDefinitionIncompatibilityException', 'BlockedException'])
const UNAVAILABLE_EXCEPTIONS = new Set(['CredentialsProviderError', 'AccessDeniedException', 'UnrecognizedClientException', 'ClusterNotFoundException', 'ExpiredTokenException'])

/** A DriverError for RunTask's `failures` (it can answer 200 with no task). */
export function runTaskFailure(sandboxId: string, failures: readonly Failure[]): DriverError {
  const f = failures[0]
  const what = f ? `${f.reason ?? 'unknown'}${f.detail ? ` (${f.detail})` : ''}` : 'no task and no failure'
  const capacity = failures.some((x) => CAPACITY_REASON_RE.test(`${x.reason ?? ''} ${x.detail ?? ''}`))
  return capacity
    ? new DriverError('capacity', `sandbox ${sandboxId}: ECS has no capacity for the task now: ${what}`)
    : new DriverError('create_failed', `sandbox ${sandboxId}: RunTask failed: ${what}`)
}

/** A DriverError for an exception an ECS call threw (after the SDK's retries). */
export function ecsCallFailure(sandboxId: string, call: string, err: unknown): DriverError {
  if (err instanceof DriverError) return err
  const name = (err as { name?: string }).name ?? 'Error'
  const message = (err as Error).message ?? String(err)
  if (CAPACITY_EXCEPTIONS.has(name) || CAPACITY_REASON_RE.test(message)) {
    return new DriverError('capacity', `sandbox ${sandboxId}: ${call}: no capacity: ${name}: ${message}`, { cause: err })
  }
  if (UNAVAILABLE_EXCEPTIONS.has(name) || /credential/i.test(message)) {
    return new DriverError('unavailable', `sandbox ${sandboxId}: ${call}: ${name}: ${message} (check the AWS credentials, region and cluster)`, { cause: err })
  }
  const throttled = name === 'ThrottlingException' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 429
  return new DriverError(throttled ? 'unavailable' : 'create_failed', `sandbox ${sandboxId}: ${call}: ${name}: ${message}`, { cause: err })
}

/** Classifies a STOPPED task by its stopCode and stoppedReason. */
export function stopReasonOf(task: Task): TaskStopReason {
  const reason = task.stoppedReason ?? ''
  const code = task.stopCode ?? ''
  if (code === 'SpotInterruption' || /spot interruption|interruption notice/i.test(reason)) return 'spot_interruption'
  if (code === 'UserInitiated' && reason.startsWith('infra-lab:')) return 'stopped_by_gateway'
  if (/CannotPullContainer|pull image/i.test(reason) || task.containers?.some((c) => /CannotPullContainer/.test(c.reason ?? ''))) return 'image_pull'
  if (/RESOURCE:|capacity/i.test(reason)) return 'capacity'
  if (code === 'EssentialContainerExited' || code === 'TaskFailedToStart') return 'exited'
  return 'unknown'
}

/** The DriverError for a task that stopped before its agent said hello. */
export function stoppedBeforeHello(sandboxId: string, task: Task): DriverError {
  const why = stopReasonOf(task)
  const text = `sandbox ${sandboxId}: task stopped before hello (${why}): ${task.stopCode ?? ''} ${task.stoppedReason ?? ''}`.trim()
  if (why === 'spot_interruption' || why === 'capacity') return new DriverError('capacity', text)
  return new DriverError(why === 'image_pull' ? 'create_failed' : 'exited_early', text)
}
