// EgressHost on the real host: its address holder, its rules rewritten for new proxy ports (a
// gateway killed and restarted) and removed again, beside another instance's. A namespace this
// test makes, joined by a veth named like a sandbox's (lx<tag><index>), stands in for a sandbox.
import { randomBytes } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_EGRESS_SUBNET } from '../src/spec/network-policy.ts'
import { EgressHost } from '../src/drivers/host/egress-host.ts'
import { EgressLeases, addressCandidates, addressIndex, type Lease } from '../src/drivers/host/egress-leases.ts'
import { DEFAULT_PROXY_IP, egressTag } from '../src/drivers/host/egress-net.ts'
import { IPROUTE_HINT, findTool, runTool } from '../src/drivers/host/host-tool.ts'
import { tcpFromNamespace } from './netns.test-util.ts'

const skip = process.getuid?.() !== 0 ? 'needs root' : !['ip', 'nft'].every((t) => findTool(t)) ? 'needs ip and nft' : undefined
const ip = (...args: string[]) => runTool('ip', args, { hint: IPROUTE_HINT })
const tableExists = (name: string) => runTool('nft', ['list', 'table', 'inet', name], { hint: '' }).then(() => true, () => false)
const linkExists = (name: string) => ip('link', 'show', name).then(() => true, () => false)

describe.skipIf(skip !== undefined)(`EgressHost${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const tag = egressTag(`egress-host-test-${process.pid}-${randomBytes(4).toString('hex')}`)
  const host = new EgressHost({ tag })
  const other = new EgressHost({ tag: egressTag(`egress-host-other-${process.pid}-${randomBytes(4).toString('hex')}`) })
  const netns = `ilab-eh-${process.pid}`
  const leases = new EgressLeases()
  let lease: Lease
  const servers: Server[] = []
  const listen = async (name: string): Promise<number> => {
    const s = createServer((c: Socket) => {
      c.on('data', () => undefined)
      c.on('end', () => c.end(name))
    })
    await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, DEFAULT_PROXY_IP, resolve))
    servers.push(s)
    return (s.address() as { port: number }).port
  }

  beforeAll(async () => {
    lease = await leases.acquire(addressCandidates(DEFAULT_EGRESS_SUBNET, [DEFAULT_PROXY_IP]), () => ({ runtimeDir: `egress-host-test-${process.pid}` }))
    const veth = host.names.veth(addressIndex(DEFAULT_EGRESS_SUBNET, lease.value))
    await ip('netns', 'add', netns)
    await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns)
    await ip('addr', 'add', `${DEFAULT_PROXY_IP}/32`, 'peer', `${lease.value}/32`, 'dev', veth)
    await ip('link', 'set', veth, 'up')
    await runTool('ip', ['-n', netns, '-b', '-'], { stdin: `link set lo up\naddr add ${lease.value}/32 dev eth0\nlink set eth0 up\nroute add default via ${DEFAULT_PROXY_IP} dev eth0 onlink\n`, hint: '' })
  })

  afterAll(async () => {
    for (const s of servers) s.close()
    await ip('netns', 'del', netns).catch(() => undefined)
    await host.down()
    await other.down()
    if (lease) await leases.release(lease)
  })

  it('ensureAddress puts the proxy address on the holder, twice without harm, so the proxy binds it before any sandbox exists', async () => {
    await host.ensureAddress()
    await host.ensureAddress()
    const [info] = JSON.parse(await ip('-j', 'addr', 'show', 'dev', host.names.holder)) as { addr_info: { family: string; local: string; prefixlen: number }[] }[]
    expect(info!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual([`${DEFAULT_PROXY_IP}/32`])
    expect(info!.addr_info.filter((a) => a.family === 'inet6')).toEqual([])
    await listen('early') // binds the proxy address: throws if it is not the host's
  })

  it("up() with a restarted proxy's new ports replaces the old ones: :3128 reaches the new listener, the old port is refused", async () => {
    const first = { http: await listen('http-1'), transparent: await listen('transparent-1'), dns: await listen('dns-1') }
    await host.up(first)
    expect(await tcpFromNamespace(netns, [{ host: DEFAULT_PROXY_IP, port: 3128, label: 'a' }, { host: '203.0.113.9', port: 443, label: 'b' }]))
      .toEqual({ a: 'http-1', b: 'transparent-1' })
    const second = { http: await listen('http-2'), transparent: await listen('transparent-2'), dns: await listen('dns-2') }
    await host.up(second)
    await host.up(second)
    expect(await tcpFromNamespace(netns, [
      { host: DEFAULT_PROXY_IP, port: 3128, label: 'a' }, { host: '203.0.113.9', port: 80, label: 'b' }, { host: DEFAULT_PROXY_IP, port: first.http, label: 'old' },
    ])).toEqual({ a: 'http-2', b: 'transparent-2', old: 'error:EHOSTUNREACH' })
  })

  it("another instance's rules and holder come and go without touching these", async () => {
    await other.up({ http: 40_001, transparent: 40_002, dns: 40_003 })
    expect(await tableExists(other.names.table)).toBe(true)
    await other.down()
    await other.down()
    expect(await tableExists(other.names.table)).toBe(false)
    expect(await linkExists(other.names.holder)).toBe(false)
    expect(await tableExists(host.names.table)).toBe(true)
    expect(await tcpFromNamespace(netns, [{ host: DEFAULT_PROXY_IP, port: 3128, label: 'a' }])).toEqual({ a: 'http-2' })
  })

  it('down() removes the table and the holder, and may run again', async () => {
    await host.down()
    await host.down()
    expect(await tableExists(host.names.table)).toBe(false)
    expect(await linkExists(host.names.holder)).toBe(false)
  })
})
