import { describe } from 'vitest'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'
import { runOpsSuite } from '../src/drivers/ops-suite.ts'

const skip = await dockerSkipReason()
describe.skipIf(skip !== undefined)(`docker sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runOpsSuite('docker', async () => {
    const env = await dockerTestEnv('ops')
    const driver = await env.makeDriver()
    // The container runs as the sandbox uid itself; there is no user namespace.
    return { driver, workspacesDir: env.workspacesDir, workspaceUid: driver.options.sandboxUid, shellUid: driver.options.sandboxUid, cleanup: env.cleanup }
  })
})
