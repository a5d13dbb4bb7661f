import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { containerName } from '../src/drivers/docker/container-spec.ts'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'
import { DEFAULT_PROXY_IP, egressNames, egressTag } from '../src/drivers/host/egress-net.ts'
import { findTool, runTool } from '../src/drivers/host/host-tool.ts'
import { TEST_CA_PEM, runEgressSuite } from './egress-suite.test-util.ts'

const skip = (await dockerSkipReason()) ?? (['ip', 'nft', 'nsenter'].every((t) => findTool(t)) ? undefined : 'needs ip, nft and nsenter (apt-get install iproute2 nftables util-linux)')
describe.skipIf(skip !== undefined)(`egress plumbing of Docker sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runEgressSuite('docker', async (egress) => {
    const env = await dockerTestEnv('egress')
    const driver = await env.makeDriver({ egress })
    const names = egressNames(egress.tag)
    return {
      driver,
      runtimeDir: driver.options.runtimeDir,
      nodePath: '/usr/bin/node',
      // The bridge's address, the containers' default gateway: a host address like any other.
      otherHostAddresses: async () => {
        const net = await driver.engine.json<{ IPAM: { Config: { Gateway: string }[] } }>('GET', `/networks/${names.dockerNetwork}`)
        return net!.IPAM.Config.map((c) => c.Gateway)
      },
      bridgePortsIsolated: async () => {
        const ports = JSON.parse(await runTool('ip', ['-d', '-j', 'link', 'show', 'master', names.dockerBridge], { hint: '' })) as { linkinfo?: { info_slave_data?: { isolated?: boolean } } }[]
        return { ports: ports.length, isolated: ports.filter((p) => p.linkinfo?.info_slave_data?.isolated === true).length }
      },
      hostObjects: async (h) => {
        const name = containerName(driver.options.runtimeTag, h.id)
        const pid = (await driver.engine.json<{ State: { Pid: number } }>('GET', `/containers/${name}/json`))!.State.Pid
        // The host end of the container's veth: eth0's peer, by interface index.
        const [eth0] = JSON.parse(await runTool('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-j', 'link', 'show', 'eth0'], { hint: '' })) as { link_index: number }[]
        const hostLinks = JSON.parse(await runTool('ip', ['-j', 'link', 'show'], { hint: '' })) as { ifindex: number; ifname: string }[]
        const veth = hostLinks.find((l) => l.ifindex === eth0!.link_index)!.ifname
        return async () => [
          (await driver.engine.call('GET', `/containers/${name}/json`)).status === 200 ? `container ${name}` : '',
          existsSync(`/sys/class/net/${veth}`) ? `link ${veth}` : '',
        ].filter((x) => x !== '')
      },
      cleanup: async () => {
        await driver.teardown()
        await env.cleanup()
      },
    }
  })
})

describe.skipIf(skip !== undefined)('a Docker driver whose egress rules are not installed', () => {
  it('refuses to start a network sandbox (fails closed): no container, no network', async () => {
    const env = await dockerTestEnv('egress-closed')
    try {
      const tag = egressTag(`egress-closed-docker-${process.pid}`)
      const driver = await env.makeDriver({ egress: { tag, proxyIp: DEFAULT_PROXY_IP, caCertPem: TEST_CA_PEM } })
      const id = `closed-${tag}`
      await expect(driver.create({ id, pool: 'net', limits: { pids: 64, memoryMb: 128, cpus: 1 }, network: true, helloTimeoutMs: 10_000 }))
        .rejects.toMatchObject({ reason: 'unavailable', message: expect.stringMatching(/EgressHost\.up/) })
      expect((await driver.engine.call('GET', `/containers/${containerName(driver.options.runtimeTag, id)}/json`)).status).toBe(404)
      expect((await driver.engine.call('GET', `/networks/${egressNames(tag).dockerNetwork}`)).status).toBe(404)
    } finally {
      await env.cleanup()
    }
  })
})
