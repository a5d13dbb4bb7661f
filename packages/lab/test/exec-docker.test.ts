import { describe } from 'vitest'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'
import { runExecSuite } from './exec-suite.test-util.ts'
import { runFilesSuite } from './files-suite.test-util.ts'

/** Small enough to fill in a test, big enough for the 50 MB round trip. */
const QUOTA_BYTES = 80 * 1024 * 1024

const skip = await dockerSkipReason()
describe.skipIf(skip !== undefined)(`exec and files on docker sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runExecSuite('docker', async () => {
    const env = await dockerTestEnv('exec')
    const driver = await env.makeDriver()
    return { driver, shellUid: driver.options.sandboxUid, cleanup: env.cleanup }
  })
  runFilesSuite('docker', async () => {
    const env = await dockerTestEnv('files', { workspaceQuotaBytes: QUOTA_BYTES })
    return { driver: await env.makeDriver(), workspacesDir: env.workspacesDir, quotaBytes: QUOTA_BYTES, hostPids: true, cleanup: env.cleanup }
  })
})
