import { existsSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DEFAULT_EGRESS_SUBNET } from '../src/spec/network-policy.ts'
import { addressIndex } from '../src/drivers/host/egress-leases.ts'
import { EgressLeases } from '../src/drivers/host/egress-leases.ts'
import { EgressHost } from '../src/drivers/host/egress-host.ts'
import { DEFAULT_PROXY_IP, EGRESS_LEASES_DIR, egressNames, egressTag } from '../src/drivers/host/egress-net.ts'
import { findTool } from '../src/drivers/host/host-tool.ts'
import { run } from '../src/drivers/agent-ops.test-util.ts'
import { LocalDriver } from '../src/drivers/local/local-driver.ts'
import { createSandboxNetns } from '../src/drivers/local/sandbox-netns.ts'
import { sandboxNodePath } from '../src/drivers/local/runtime-dir.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { TEST_CA_PEM, runEgressSuite } from './egress-suite.test-util.ts'

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

describe.skipIf(skip !== undefined)('a local driver whose egress rules are not installed', () => {
  it('refuses to start a network sandbox (fails closed) and leaves nothing of it behind', async () => {
    const env = await localTestEnv('egress-closed')
    try {
      const tag = egressTag(`egress-closed-${process.pid}`)
      const driver = new LocalDriver({ ...env.options, egress: { tag, proxyIp: DEFAULT_PROXY_IP, caCertPem: TEST_CA_PEM } })
      await driver.init()
      const id = `closed-${tag}`
      await expect(driver.create({ id, pool: 'net', limits: { pids: 64, memoryMb: 128, cpus: 1 }, network: true, helloTimeoutMs: 10_000 }))
        .rejects.toMatchObject({ reason: 'unavailable', message: expect.stringMatching(/EgressHost\.up/) })
      expect(await new EgressLeases().owned(driver.options.runtimeDir)).toEqual([])
      expect(existsSync(`/run/netns/${egressNames(tag).netns(id)}`)).toBe(false)
      expect(await driver.list()).toEqual([])
    } finally {
      await env.cleanup()
    }
  })
})

describe.skipIf(skip !== undefined)('a local driver without an egress proxy', () => {
  it('refuses network sandboxes (fails closed): a link without the rules would reach the host', async () => {
    const env = await localTestEnv('egress-bare')
    try {
      const driver = await env.makeDriver()
      await expect(driver.create({ id: `bare-${process.pid}`, pool: 'net', limits: { pids: 64, memoryMb: 128, cpus: 1 }, network: true, helloTimeoutMs: 20_000 }))
        .rejects.toMatchObject({ reason: 'unavailable', message: expect.stringMatching(/egress proxy/) })
      expect(await new EgressLeases().owned(driver.options.runtimeDir)).toEqual([])
    } finally {
      await env.cleanup()
    }
  })
})

describe.skipIf(skip !== undefined)('a local driver with its egress rules', () => {
  it("list() removes a dead sandbox's namespace and a half-made one's", async () => {
    const env = await localTestEnv('egress-list')
    const tag = egressTag(`egress-list-${process.pid}`)
    const host = new EgressHost({ tag })
    try {
      // rules for ports nothing listens on: this test reaches nothing, it only makes and removes
      await host.up({ http: 9, transparent: 11, dns: 13 })
      const driver = new LocalDriver({ ...env.options, egress: { tag, proxyIp: host.proxyIp, caCertPem: TEST_CA_PEM } })
      await driver.init()
      const names = driver.options.egressNames
      const leases = new EgressLeases()
      const h = await driver.create({ id: `list-${process.pid}`, pool: 'net', limits: { pids: 64, memoryMb: 128, cpus: 1 }, network: true, helloTimeoutMs: 20_000 })
      const ch = await driver.connect(h)
      try {
        const binding = await driver.bindWorkspace(h, 'carol')
        await ch.claim({ sessionId: 's-bare', user: 'carol', home: binding.home, env: {}, secrets: {} }, 10_000)
        const out = await run(ch, 'readlink /proc/self/ns/net; env')
        expect(out.stdout.split('\n')[0]).not.toBe(readlinkSync('/proc/self/ns/net'))
      } finally {
        ch.close()
      }
      expect(existsSync(`/run/netns/${names.netns(h.id)}`)).toBe(true)
      // The sandbox dies with nobody to destroy it (its wrapper killed), and a create died half-way.
      process.kill(Number(h.meta.pid), 'SIGKILL')
      const half = await createSandboxNetns({ names, proxyIp: driver.options.proxyIp, runtimeDir: driver.options.runtimeDir, sandboxId: 'half-made', leases })
      expect(existsSync(half.netnsPath)).toBe(true)
      for (let i = 0; i < 100 && (await driver.list()).length > 0; i++) await new Promise((r) => setTimeout(r, 50))
      expect(await driver.list()).toEqual([])
      expect(existsSync(`/run/netns/${names.netns(h.id)}`)).toBe(false)
      expect(existsSync(half.netnsPath)).toBe(false)
      expect(await leases.owned(driver.options.runtimeDir)).toEqual([])
    } finally {
      await env.cleanup()
      await host.down()
    }
  })
})
