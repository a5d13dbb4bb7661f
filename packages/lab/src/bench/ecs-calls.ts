import type { ECSClient } from '@aws-sdk/client-ecs'
import { setTimeout as delay } from 'node:timers/promises'

/** What the SDK leaves on every output and error: how many attempts the call took. */
interface WithAttempts {
  readonly $metadata?: { readonly attempts?: number }
}

/** Retry bookkeeping of one benchmark run, as written to its results. */
export interface CallCounts {
  /** AWS calls made (each may have been several attempts). */
  readonly calls: number
  /** Extra attempts the SDK's standard retry strategy made (throttling, 5xx, transient errors), from `$metadata.attempts`. */
  readonly retries: number
  /** Calls that still failed with throttling after every attempt. */
  readonly throttledFailures: number
}

/**
 * Counts the SDK's retries of every call made through `send` (the SDK retries throttling and
 * 5xx with jittered back-off; `$metadata.attempts` says how many attempts a call took).
 */
export class CallCounter {
  private counts = { calls: 0, retries: 0, throttledFailures: 0 }

  async send<T>(call: () => Promise<T>): Promise<T> {
    this.counts.calls++
    try {
      const out = await call()
      this.counts.retries += extraAttempts(out)
      return out
    } catch (err) {
      this.counts.retries += extraAttempts(err)
      if (isThrottling(err)) this.counts.throttledFailures++
      throw err
    }
  }

  get total(): CallCounts {
    return { ...this.counts }
  }
}

/**
 * Counts every call made through `client`, the driver's own calls included, by wrapping its
 * `send` (the one entry every command goes through, also when a test stubs it).
 */
export function countCalls(client: ECSClient, counter: CallCounter): void {
  const send = client.send.bind(client) as (...args: unknown[]) => Promise<unknown>
  ;(client as { send: unknown }).send = (...args: unknown[]) => counter.send(() => send(...args))
}

function extraAttempts(x: unknown): number {
  const attempts = (x as WithAttempts | undefined)?.$metadata?.attempts
  return typeof attempts === 'number' && attempts > 1 ? attempts - 1 : 0
}

export function isThrottling(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } }
  return e?.name === 'ThrottlingException' || e?.name === 'Throttling' || e?.name === 'TooManyRequestsException' || e?.$metadata?.httpStatusCode === 429
}

/** Monotonic milliseconds and abortable waits: injected so tests run on a fake clock. */
export interface BenchClock {
  now(): number
  sleep(ms: number, signal: AbortSignal): Promise<void>
}

export const realClock: BenchClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }),
}

/** The message for a failed AWS call, with what to do when it is about credentials. */
export function awsErrorLine(err: unknown): string {
  const e = err as Error
  const text = `${e.name ?? 'Error'}: ${e.message ?? String(err)}`
  return /credential|Region is missing|ExpiredToken|UnrecognizedClient|InvalidClientTokenId/i.test(text)
    ? `${text} (set AWS credentials and AWS_REGION for the account the stack is deployed in)`
    : text
}
