import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe } from 'vitest'
import { DEFAULT_EGRESS_SUBNET } from '../src/spec/network-policy.ts'
import { addressIndex } from '../src/drivers/host/egress-leases.ts'
import { EGRESS_LEASES_DIR, egressNames } from '../src/drivers/host/egress-net.ts'
import { findTool } from '../src/drivers/host/host-tool.ts'
import { LocalDriver } from '../src/drivers/local/local-driver.ts'
import { sandboxNodePath } from '../src/drivers/local/runtime-dir.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { runEgressSuite } from './egress-suite.test-util.ts'

const skip = localDriverSkipReason() ?? (['ip', 'nft', 'nsenter'].every((t) => findTool(t)) ? undefined : 'needs ip, nft and nsenter (apt-get install iproute2 nftables util-linux)')
describe.skipIf(skip !== undefined)(`egress plumbing of local sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runEgressSuite('local', async (egress) => {
    const env = await localTestEnv('egress')
    const driver = new LocalDriver({ ...env.options, egress })
    await driver.init()
    const names = egressNames(egress.tag)
    return {
      driver,
      runtimeDir: driver.options.runtimeDir,
      nodePath: sandboxNodePath(process.execPath),
      otherHostAddresses: async () => [],
      hostObjects: async (h) => {
        const ip = String(h.meta.egressIp)
        const netns = names.netns(h.id)
        const veth = names.veth(addressIndex(DEFAULT_EGRESS_SUBNET, ip))
        return async () => [
          existsSync(`/run/netns/${netns}`) ? `netns ${netns}` : '',
          existsSync(`/sys/class/net/${veth}`) ? `link ${veth}` : '',
          existsSync(join(EGRESS_LEASES_DIR, ip)) ? `lease ${ip}` : '',
        ].filter((x) => x !== '')
      },
      cleanup: async () => {
        await driver.teardown()
        await env.cleanup()
      },
    }
  })
})
