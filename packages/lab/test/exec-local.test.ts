import { describe } from 'vitest'
import { SANDBOX_UID } from '../src/drivers/local/bwrap-args.ts'
import { LocalDriver } from '../src/drivers/local/local-driver.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { runExecSuite } from './exec-suite.test-util.ts'
import { runFilesSuite } from './files-suite.test-util.ts'

/** Small enough to fill in a test, big enough for the 50 MB round trip. */
const QUOTA_BYTES = 80 * 1024 * 1024

const skip = localDriverSkipReason()
describe.skipIf(skip !== undefined)(`exec and files on local sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runExecSuite('local', async () => {
    const env = await localTestEnv('exec')
    return { driver: await env.makeDriver(), shellUid: SANDBOX_UID, cleanup: env.cleanup }
  })
  runFilesSuite('local', async () => {
    const env = await localTestEnv('files')
    const driver = new LocalDriver({ ...env.options, workspaceQuotaBytes: QUOTA_BYTES })
    await driver.init()
    return { driver, workspacesDir: env.workspacesDir, quotaBytes: QUOTA_BYTES, hostPids: true, cleanup: env.cleanup }
  })
})
