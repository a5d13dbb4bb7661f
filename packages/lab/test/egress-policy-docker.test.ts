import { describe } from 'vitest'
import { dockerSkipReason, ensureLocalImage } from '../src/drivers/docker/test-support.ts'
import { runEgressSuite } from './egress-policy-suite.test-util.ts'
import { runCli } from './gateway-process.test-util.ts'

const skip = await dockerSkipReason()
if (skip === undefined) await ensureLocalImage()

describe.skipIf(skip !== undefined)(`egress on Docker sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runEgressSuite({
    driver: 'docker',
    async teardown(dataDir) {
      const r = await runCli(['gateway', '--teardown', '--driver', 'docker', '--data-dir', dataDir])
      if (r.code !== 0) throw new Error(`gateway --teardown failed (${r.code}): ${r.stderr.slice(-2000)}`)
    },
  })
})
