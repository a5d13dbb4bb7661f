import { describe } from 'vitest'
import { SANDBOX_UID } from '../src/drivers/local/bwrap-args.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { runOpsSuite } from '../src/drivers/ops-suite.ts'

const skip = localDriverSkipReason()
describe.skipIf(skip !== undefined)(`local sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runOpsSuite('local', async () => {
    const env = await localTestEnv('ops')
    const driver = await env.makeDriver()
    return { driver, workspacesDir: env.workspacesDir, workspaceUid: driver.options.sandboxUid, shellUid: SANDBOX_UID, cleanup: env.cleanup }
  })
})
