import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe } from 'vitest'
import { runDriverContract } from '../src/drivers/contract.ts'
import type { LocalDriver } from '../src/drivers/local/local-driver.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { ecsDriverOnLocal, localTasks } from './ecs-on-local.test-util.ts'

/**
 * The driver contract end to end: only the ECS API is mocked. Each mocked task is a real
 * bubblewrap sandbox running the real agent, reached over the agent's TLS-PSK bridge on a
 * loopback address of its own, with the per-task key the driver put in RunTask's overrides.
 */
const skip = localDriverSkipReason()

describe.skipIf(skip !== undefined)(`ecs contract against local sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof localTestEnv>>
  let local: LocalDriver
  let tasks: ReturnType<typeof localTasks>
  const agentKey = randomBytes(32)
  beforeAll(async () => {
    env = await localTestEnv('ecs')
    local = await env.makeDriver()
    tasks = localTasks(() => local, { pool: 'contract', limits: { pids: 128, memoryMb: 256, cpus: 1 }, helloTimeoutMs: 15_000 })
  })
  runDriverContract('ecs (mocked ECS API, tasks are local sandboxes)', async () => ecsDriverOnLocal(() => local, tasks, 17200, agentKey), { helloTimeoutMs: 20_000 })
  afterAll(async () => {
    await tasks?.ecs.close()
    await env?.cleanup()
  })
})
