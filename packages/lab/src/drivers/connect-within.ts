import type { AgentChannel } from './channel.ts'
import { DriverError, type SandboxDriver } from './types.ts'

/** driver.connect within `ms`; a connection that arrives later is closed, never leaked. */
export async function connectWithin(driver: SandboxDriver, handle: Parameters<SandboxDriver['connect']>[0], ms: number): Promise<AgentChannel> {
  const attempt = driver.connect(handle)
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DriverError('unavailable', `sandbox ${handle.id}: no answer from its agent within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([attempt, timeout])
  } catch (err) {
    attempt.then((ch) => ch.close(), () => undefined)
    throw err
  } finally {
    clearTimeout(timer)
  }
}
