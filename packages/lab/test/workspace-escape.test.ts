import { describe } from 'vitest'
import { runEscapeSuite } from '../src/drivers/escape-suite.ts'
import { SANDBOX_UID } from '../src/drivers/local/bwrap-args.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'

const skip = localDriverSkipReason()
describe.skipIf(skip !== undefined)(`local sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runEscapeSuite('local', async () => {
    const env = await localTestEnv('escape')
    const driver = await env.makeDriver()
    return { driver, workspacesDir: env.workspacesDir, workspaceUid: driver.options.sandboxUid, shellUid: SANDBOX_UID, cleanup: env.cleanup }
  })
})
