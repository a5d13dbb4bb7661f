import { describe } from 'vitest'
import { SANDBOX_UID } from '../src/drivers/local/bwrap-args.ts'
import { LocalDriver } from '../src/drivers/local/local-driver.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { ecsDriverOnLocal, localTasks } from './ecs-on-local.test-util.ts'
import { runExecSuite } from './exec-suite.test-util.ts'
import { runFilesSuite } from './files-suite.test-util.ts'

const QUOTA_BYTES = 80 * 1024 * 1024

/**
 * The exec and file API on the ECS driver: only the ECS API is mocked. Each task is a real
 * bubblewrap sandbox running the real agent, reached over the agent's TLS-PSK bridge, so exec
 * and files go through the same privilege drop and transport as on ECS.
 */
async function ecsOnLocal(name: string) {
  const env = await localTestEnv(name)
  const local = new LocalDriver({ ...env.options, workspaceQuotaBytes: QUOTA_BYTES })
  await local.init()
  const tasks = localTasks(() => local, { pool: 'default', limits: { pids: 256, memoryMb: 512, cpus: 1 }, helloTimeoutMs: 20_000 })
  const { ecs } = tasks
  const driver = ecsDriverOnLocal(() => local, tasks, 17400)
  return {
    driver, workspacesDir: env.workspacesDir,
    gatewayConfig: { ecs: { cluster: 'lab', taskDefinition: 'lab-sandbox:1', subnets: ['subnet-a'] } },
    async cleanup() {
      await ecs.close()
      await env.cleanup()
    },
  }
}

const skip = localDriverSkipReason()
describe.skipIf(skip !== undefined)(`exec and files on the ECS driver (mocked ECS, real agents)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runExecSuite('ecs', async () => {
    const e = await ecsOnLocal('exec-ecs')
    return { driver: e.driver, gatewayConfig: e.gatewayConfig, shellUid: SANDBOX_UID, cleanup: e.cleanup }
  })
  runFilesSuite('ecs', async () => {
    const e = await ecsOnLocal('files-ecs')
    return { ...e, quotaBytes: QUOTA_BYTES, hostPids: true }
  })
})
