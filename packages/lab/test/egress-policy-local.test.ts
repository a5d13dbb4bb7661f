import { describe } from 'vitest'
import { localDriverSkipReason } from '../src/drivers/local/test-support.ts'
import { runEgressSuite } from './egress-policy-suite.test-util.ts'
import { runCli } from './gateway-process.test-util.ts'

const skip = localDriverSkipReason()
describe.skipIf(skip !== undefined)(`egress on local sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runEgressSuite({
    driver: 'local',
    async teardown(dataDir) {
      const r = await runCli(['gateway', '--teardown', '--driver', 'local', '--data-dir', dataDir])
      if (r.code !== 0) throw new Error(`gateway --teardown failed (${r.code}): ${r.stderr.slice(-2000)}`)
    },
  })
})
