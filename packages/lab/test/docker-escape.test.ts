import { describe } from 'vitest'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'
import { runEscapeSuite } from '../src/drivers/escape-suite.ts'

const skip = await dockerSkipReason()
describe.skipIf(skip !== undefined)(`docker sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runEscapeSuite('docker', async () => {
    const env = await dockerTestEnv('escape')
    const driver = await env.makeDriver()
    // The container runs as the sandbox uid itself; there is no user namespace.
    return { driver, workspacesDir: env.workspacesDir, workspaceUid: driver.options.sandboxUid, shellUid: driver.options.sandboxUid, cleanup: env.cleanup }
  })
})
