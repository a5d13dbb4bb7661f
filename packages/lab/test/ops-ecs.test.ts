import { describe } from 'vitest'
import { SANDBOX_UID } from '../src/drivers/local/bwrap-args.ts'
import type { LocalDriver } from '../src/drivers/local/local-driver.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { runOpsSuite } from '../src/drivers/ops-suite.ts'
import { ecsDriverOnLocal, localTasks } from './ecs-on-local.test-util.ts'

/**
 * Commands and files through the ECS driver: only the ECS API is mocked. Each task is a real
 * bubblewrap sandbox running the real agent, reached over its TLS-PSK bridge with the per-task key
 * (as ecs-contract.test.ts), so the operations' frames cross the same transport as on ECS.
 */
const skip = localDriverSkipReason()
describe.skipIf(skip !== undefined)(`ecs (mocked ECS API, tasks are local sandboxes)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runOpsSuite('ecs', async () => {
    const env = await localTestEnv('ops-ecs')
    const local: LocalDriver = await env.makeDriver()
    const tasks = localTasks(() => local, { pool: 'ops', limits: { pids: 128, memoryMb: 512, cpus: 1 }, helloTimeoutMs: 15_000 })
    const { ecs } = tasks
    const driver = ecsDriverOnLocal(() => local, tasks, 17300)
    return {
      driver, workspacesDir: env.workspacesDir, workspaceUid: local.options.sandboxUid, shellUid: SANDBOX_UID,
      cleanup: async () => {
        await ecs.close()
        await env.cleanup()
      },
    }
  })
})
