// What every host driver's network sandboxes must show, on real sandboxes with the real agent:
// a network namespace of their own, and no way out but the egress proxy. An EgressHost with a tag
// of this test's own writes the real nftables rules; the test's own listeners on the proxy
// address stand in for the proxy (HTTP, transparent and DNS ports) and for the host's other
// services. Nothing leaves the machine: "internet" addresses are TEST-NET-3 (203.0.113.0/24),
// which the rules redirect to the listeners or refuse.
import { randomBytes } from 'node:crypto'
import { readFileSync, readlinkSync } from 'node:fs'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SANDBOX_CA_BUNDLE, SANDBOX_EGRESS_CA, sandboxProxyEnv } from '../src/spec/network-policy.ts'
import { run } from '../src/drivers/agent-ops.test-util.ts'
import type { AgentChannel } from '../src/drivers/channel.ts'
import { EgressHost } from '../src/drivers/host/egress-host.ts'
import { EgressLeases } from '../src/drivers/host/egress-leases.ts'
import { DEFAULT_PROXY_IP, egressTag, type EgressOptions } from '../src/drivers/host/egress-net.ts'
import { runTool } from '../src/drivers/host/host-tool.ts'
import { originalDstOf, type OriginalDst } from '../src/drivers/host/original-dst.ts'
import type { SandboxDriver, SandboxHandle } from '../src/drivers/types.ts'

export interface EgressSuiteEnv {
  readonly driver: SandboxDriver
  /** The driver's runtime dir (owner of its leases). */
  readonly runtimeDir: string
  /** The node binary inside the sandbox. */
  readonly nodePath: string
  /** Host addresses a sandbox sees besides the proxy's (the Docker bridge's gateway). */
  otherHostAddresses(): Promise<string[]>
  /**
   * Docker: whether every port of the bridge is isolated from the others. The host's forward
   * rules already stop container-to-container IP where the kernel passes bridged traffic to them
   * (br_netfilter), so this is what holds on hosts where it does not.
   */
  bridgePortsIsolated?(): Promise<{ ports: number; isolated: number }>
  /** Notes the host objects the sandbox has now; the check returns those still there. */
  hostObjects(h: SandboxHandle): Promise<() => Promise<string[]>>
  /** The driver's teardown and scratch dirs. */
  cleanup(): Promise<void>
}

/** Not a real CA: the drivers pass the PEM through without parsing it. */
export const TEST_CA_PEM = `-----BEGIN CERTIFICATE-----\nMIIBtestEgressCaForInfraLab${randomBytes(6).toString('hex')}\n-----END CERTIFICATE-----\n`

interface Hit {
  readonly listener: string
  readonly remote: string
  readonly label: string
  readonly dst?: OriginalDst
}

interface ProbeResult {
  readonly label: string
  readonly connected: boolean
  readonly reply?: string
  readonly error?: string
}

type Probe = { kind: 'tcp' | 'udp'; host: string; port: number; label: string }

/** Runs in the sandbox: each probe, all at once, sends its label (TCP: and half-closes) and reports what came back. */
const PROBE = `
const net = require('node:net'), dgram = require('node:dgram')
const tcp = (p) => new Promise((done) => {
  const r = { label: p.label, connected: false }
  const s = net.connect({ host: p.host, port: p.port })
  const t = setTimeout(() => { r.error = 'timeout'; s.destroy(); done(r) }, 3000)
  s.on('connect', () => { r.connected = true; s.end(p.label) })
  s.on('data', (d) => { r.reply = (r.reply || '') + d })
  s.on('error', (e) => { r.error = e.code })
  s.on('close', () => { clearTimeout(t); done(r) })
})
const udp = (p) => new Promise((done) => {
  const r = { label: p.label, connected: false }
  const s = dgram.createSocket('udp4')
  const finish = () => { clearTimeout(t); try { s.close() } catch {} done(r) }
  const t = setTimeout(() => { r.error = 'noreply'; finish() }, 1500)
  s.on('message', (m) => { r.reply = String(m); finish() })
  s.on('error', (e) => { r.error = e.code; finish() })
  s.send(p.label, p.port, p.host)
})
Promise.all(JSON.parse(process.argv[1]).map((p) => (p.kind === 'tcp' ? tcp(p) : udp(p)))).then((out) => console.log(JSON.stringify(out)))`

/** Runs in a sandbox in the background: records who reached its TCP 7000 and UDP 7001 in ~/hits. */
const LISTENER = `
const fs = require('node:fs'), net = require('node:net'), dgram = require('node:dgram')
const hit = (label) => fs.appendFileSync('/home/user/hits', label + '\\n')
net.createServer((s) => { let l = ''; s.on('data', (d) => l += d); s.on('end', () => { hit(l); s.end('ok') }) }).listen(7000, '0.0.0.0')
const u = dgram.createSocket('udp4'); u.on('message', (m, r) => { hit(String(m)); u.send('ok', r.port, r.address) }); u.bind(7001, '0.0.0.0')
setTimeout(() => fs.writeFileSync('/home/user/listening', ''), 200)`

/**
 * Call from a driver's test file: `runEgressSuite('local', async (egress) => ({ driver, ... }))`.
 * Two network sandboxes are made and claimed; everything (sandboxes, links, leases, rules) is
 * removed afterwards, also when a test fails.
 */
export function runEgressSuite(name: string, makeEnv: (egress: EgressOptions) => Promise<EgressSuiteEnv>): void {
  describe(`network sandboxes: ${name}`, () => {
    const tag = egressTag(`egress-suite-${name}-${process.pid}-${randomBytes(4).toString('hex')}`)
    const host = new EgressHost({ tag })
    const proxy = DEFAULT_PROXY_IP
    const hits: Hit[] = []
    const servers: (Server | UdpSocket)[] = []
    const ports: Record<string, number> = {}
    let env: EgressSuiteEnv
    const handles: SandboxHandle[] = []
    const channels: AgentChannel[] = []
    let a: { h: SandboxHandle; ch: AgentChannel }
    let b: { h: SandboxHandle; ch: AgentChannel }

    const tcpListener = async (listener: string, address: string, port = 0): Promise<number> => {
      const server = createServer((s: Socket) => {
        const dst = originalDstOf(s)
        let label = ''
        s.on('data', (d: Buffer) => (label += d.toString('utf8')))
        s.on('end', () => {
          hits.push({ listener, remote: s.remoteAddress ?? '', label, ...(dst ? { dst } : {}) })
          s.end(`ok:${listener}`)
        })
        s.on('error', () => undefined)
      })
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address, resolve))
      servers.push(server)
      return (server.address() as { port: number }).port
    }
    const udpListener = async (listener: string, address: string, port = 0): Promise<number> => {
      const sock = createSocket('udp4')
      sock.on('message', (m, r) => {
        hits.push({ listener, remote: r.address, label: m.toString('utf8') })
        sock.send(`ok:${listener}`, r.port, r.address)
      })
      await new Promise<void>((resolve, reject) => sock.once('error', reject).bind(port, address, resolve))
      servers.push(sock)
      return sock.address().port
    }
    const probe = async (from: AgentChannel, probes: Probe[]): Promise<Record<string, ProbeResult>> => {
      const r = await run(from, [env.nodePath, '-e', PROBE, JSON.stringify(probes)], { timeoutMs: 60_000 })
      expect(r.exitCode, r.stderr).toBe(0)
      return Object.fromEntries((JSON.parse(r.stdout) as ProbeResult[]).map((x) => [x.label, x]))
    }
    const sh = async (ch: AgentChannel, cmd: string): Promise<string> => {
      const r = await run(ch, cmd)
      expect(r.exitCode, `${cmd}: ${r.stderr}`).toBe(0)
      return r.stdout
    }
    const hitsOf = (label: string) => hits.filter((h) => h.label === label)

    beforeAll(async () => {
      await host.ensureAddress()
      // The proxy's three ports (DNS: TCP and UDP on one port), then the host's other services.
      ports.http = await tcpListener('http', proxy)
      ports.transparent = await tcpListener('transparent', proxy)
      ports.dns = await udpListener('dns-udp', proxy)
      await tcpListener('dns-tcp', proxy, ports.dns)
      ports.hostPort = await tcpListener('host-port', proxy)
      ports.hostUdp = await udpListener('host-udp', proxy)
      ports.hostLoopback = await tcpListener('host-loopback', '127.0.0.1')
      ports.hostAny = await tcpListener('host-any', '0.0.0.0')
      await host.up({ http: ports.http, transparent: ports.transparent, dns: ports.dns })

      env = await makeEnv({ tag, proxyIp: proxy, caCertPem: TEST_CA_PEM })
      const limits = { pids: 128, memoryMb: 256, cpus: 1 }
      const made = await Promise.all(['a', 'b'].map((x) => env.driver.create({ id: `net-${x}-${tag}`, pool: 'net', limits, network: true, helloTimeoutMs: 20_000 })))
      handles.push(...made)
      const claim = async (h: SandboxHandle, user: string) => {
        const binding = await env.driver.bindWorkspace(h, user)
        const ch = await env.driver.connect(h)
        channels.push(ch)
        await ch.claim({ sessionId: `s-${user}-${tag}`, user, home: binding.home, env: {}, secrets: {} }, 10_000)
        return { h, ch }
      }
      a = await claim(made[0]!, 'alice')
      b = await claim(made[1]!, 'bob')
    }, 120_000)

    afterAll(async () => {
      for (const c of channels) c.close()
      for (const h of handles) await env?.driver.destroy(h.id).catch(() => undefined)
      await env?.cleanup()
      for (const s of servers) s.close()
      await host.down()
    }, 120_000)

    it('each has a network namespace of its own: not the host\'s nor the other\'s, with only lo and eth0, its leased address and no IPv6 on eth0', async () => {
      const hostNs = readlinkSync('/proc/self/ns/net')
      const nsA = (await sh(a.ch, 'readlink /proc/self/ns/net')).trim()
      const nsB = (await sh(b.ch, 'readlink /proc/self/ns/net')).trim()
      expect(nsA).toMatch(/^net:\[\d+\]$/)
      expect(nsA).not.toBe(hostNs)
      expect(nsB).not.toBe(hostNs)
      expect(nsA).not.toBe(nsB)
      const ifaces = (await sh(a.ch, 'cat /proc/net/dev')).split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter((n) => n !== '')
      expect(ifaces.sort()).toEqual(['eth0', 'lo'])
      const ip = a.h.meta.egressIp
      expect(typeof ip).toBe('string')
      expect(b.h.meta.egressIp).not.toBe(ip)
      const addrs = JSON.parse(await sh(a.ch, `${env.nodePath} -e 'console.log(JSON.stringify(require("os").networkInterfaces().eth0))'`)) as { address: string; family: string }[]
      expect(addrs.map((x) => `${x.family} ${x.address}`)).toEqual([`IPv4 ${String(ip)}`])
      expect(await sh(a.ch, 'cat /proc/net/if_inet6')).not.toMatch(/eth0/)
    })

    it('is told the proxy: its variables, a resolver and hosts file of its own, the CA alone and in the system bundle', async () => {
      const shellEnv = await sh(a.ch, 'env')
      for (const [k, v] of Object.entries(sandboxProxyEnv(proxy))) expect(shellEnv).toContain(`${k}=${v}\n`)
      expect(await sh(a.ch, 'cat /etc/resolv.conf')).toMatch(new RegExp(`^nameserver ${proxy.replaceAll('.', '\\.')}$`, 'm'))
      expect((await sh(a.ch, 'cat /etc/resolv.conf')).match(/nameserver/g)).toHaveLength(1)
      expect((await sh(a.ch, 'cat /etc/hosts')).trim().split('\n')).toEqual(['127.0.0.1\tlocalhost sandbox'])
      expect(await sh(a.ch, `cat ${SANDBOX_EGRESS_CA}`)).toBe(TEST_CA_PEM)
      const bundle = await sh(a.ch, `cat ${SANDBOX_CA_BUNDLE}`)
      expect(bundle.endsWith(TEST_CA_PEM)).toBe(true)
      const hostBundle = readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8')
      expect(bundle.startsWith(hostBundle.slice(0, 200))).toBe(true)
    })

    it('reaches the proxy at :3128, and its TCP to any :80 or :443 arrives at the transparent port from its own address with the original destination', async () => {
      const r = await probe(a.ch, [
        { kind: 'tcp', host: proxy, port: 3128, label: 'to-proxy' },
        { kind: 'tcp', host: '203.0.113.7', port: 80, label: 'to-web-80' },
        { kind: 'tcp', host: '203.0.113.7', port: 443, label: 'to-web-443' },
      ])
      expect(r['to-proxy']).toMatchObject({ connected: true, reply: 'ok:http' })
      expect(r['to-web-80']).toMatchObject({ connected: true, reply: 'ok:transparent' })
      expect(r['to-web-443']).toMatchObject({ connected: true, reply: 'ok:transparent' })
      const ip = String(a.h.meta.egressIp)
      expect(hitsOf('to-proxy')).toEqual([{ listener: 'http', remote: ip, label: 'to-proxy', dst: { address: proxy, port: 3128 } }])
      expect(hitsOf('to-web-80')).toEqual([{ listener: 'transparent', remote: ip, label: 'to-web-80', dst: { address: '203.0.113.7', port: 80 } }])
      expect(hitsOf('to-web-443')).toEqual([{ listener: 'transparent', remote: ip, label: 'to-web-443', dst: { address: '203.0.113.7', port: 443 } }])
    })

    it('sends DNS, UDP and TCP, to any server to the proxy\'s DNS port; other UDP goes nowhere; Docker\'s embedded resolver is not reachable', async () => {
      const r = await probe(a.ch, [
        { kind: 'udp', host: proxy, port: 53, label: 'dns-proxy' },
        { kind: 'udp', host: '203.0.113.7', port: 53, label: 'dns-elsewhere' },
        { kind: 'tcp', host: '203.0.113.7', port: 53, label: 'dns-tcp' },
        { kind: 'udp', host: proxy, port: ports.hostUdp!, label: 'udp-host-port' },
        { kind: 'udp', host: '203.0.113.7', port: 5353, label: 'udp-elsewhere' },
        { kind: 'udp', host: proxy, port: 123, label: 'udp-ntp' },
        { kind: 'udp', host: '127.0.0.11', port: 53, label: 'docker-dns-udp' },
        { kind: 'tcp', host: '127.0.0.11', port: 53, label: 'docker-dns-tcp' },
      ])
      const ip = String(a.h.meta.egressIp)
      expect(r['dns-proxy']).toMatchObject({ reply: 'ok:dns-udp' })
      expect(r['dns-elsewhere']).toMatchObject({ reply: 'ok:dns-udp' })
      expect(r['dns-tcp']).toMatchObject({ connected: true, reply: 'ok:dns-tcp' })
      expect(hitsOf('dns-elsewhere')).toEqual([{ listener: 'dns-udp', remote: ip, label: 'dns-elsewhere' }])
      for (const label of ['udp-host-port', 'udp-elsewhere', 'udp-ntp', 'docker-dns-udp']) {
        expect(r[label]?.reply, label).toBeUndefined()
        expect(hitsOf(label), label).toEqual([])
      }
      expect(r['docker-dns-tcp']?.connected).toBe(false)
    })

    it("cannot reach the host's other ports and addresses, its own loopback's listeners aside, nor any other port outside", async () => {
      const others = await env.otherHostAddresses()
      const r = await probe(a.ch, [
        { kind: 'tcp', host: proxy, port: ports.hostPort!, label: 'host-port' },
        { kind: 'tcp', host: proxy, port: ports.hostAny!, label: 'host-any' },
        { kind: 'tcp', host: '127.0.0.1', port: ports.hostLoopback!, label: 'host-loopback' },
        { kind: 'tcp', host: '203.0.113.7', port: 22, label: 'web-22' },
        ...others.map((addr, i) => ({ kind: 'tcp' as const, host: addr, port: ports.hostAny!, label: `other-${i}` })),
      ])
      for (const label of ['host-port', 'host-any', 'host-loopback', 'web-22', ...others.map((_, i) => `other-${i}`)]) {
        expect(r[label]?.connected, label).toBe(false)
        expect(hitsOf(label), label).toEqual([])
      }
      expect(r['host-loopback']?.error).toBe('ECONNREFUSED') // its own loopback: nobody listens there
    })

    it('two sandboxes cannot reach each other, by TCP or UDP', async () => {
      await b.ch.ops.exec({ cmd: [env.nodePath, '-e', LISTENER], env: {}, timeoutMs: 0, background: true, tty: false })
      const listening = async () => (await run(b.ch, 'test -e listening')).exitCode === 0
      for (let i = 0; i < 100 && !(await listening()); i++) await new Promise((res) => setTimeout(res, 50))
      expect(await listening()).toBe(true)
      const ipB = String(b.h.meta.egressIp)
      // From itself it answers: the listener works.
      const self = await probe(b.ch, [{ kind: 'tcp', host: ipB, port: 7000, label: 'b-self' }])
      expect(self['b-self']).toMatchObject({ connected: true, reply: 'ok' })
      const r = await probe(a.ch, [
        { kind: 'tcp', host: ipB, port: 7000, label: 'a-to-b-tcp' },
        { kind: 'udp', host: ipB, port: 7001, label: 'a-to-b-udp' },
      ])
      expect(r['a-to-b-tcp']?.connected).toBe(false)
      expect(r['a-to-b-udp']?.reply).toBeUndefined()
      expect((await sh(b.ch, 'cat hits')).split('\n').filter((l) => l !== '')).toEqual(['b-self'])
      if (env.bridgePortsIsolated) expect(await env.bridgePortsIsolated()).toEqual({ ports: 2, isolated: 2 })
    })

    it('destroy leaves nothing of the sandbox on the host', async () => {
      const remaining = await env.hostObjects(a.h)
      expect((await remaining()).length).toBeGreaterThan(0)
      a.ch.close()
      await env.driver.destroy(a.h.id)
      expect(await remaining()).toEqual([])
    })

    it("teardown removes every link, namespace and lease of the driver's; EgressHost.down removes the rules and the address", async () => {
      await env.cleanup()
      expect(await new EgressLeases().owned(env.runtimeDir)).toEqual([])
      const links = JSON.parse(await runTool('ip', ['-j', 'link', 'show'], { hint: '' })) as { ifname: string }[]
      expect(links.map((l) => l.ifname).filter((n) => n.startsWith(host.names.holder) && n !== host.names.holder)).toEqual([])
      expect(await runTool('ip', ['netns', 'list'], { hint: '' })).not.toContain(`lab-${tag}-`)
      expect(await runTool('nft', ['list', 'table', 'inet', host.names.table], { hint: '' })).toContain('filter_input')
      await host.down()
      await expect(runTool('nft', ['list', 'table', 'inet', host.names.table], { hint: '' })).rejects.toThrow(/No such file/)
      expect(links.length).toBeGreaterThan(0)
      const after = JSON.parse(await runTool('ip', ['-j', 'link', 'show'], { hint: '' })) as { ifname: string }[]
      expect(after.map((l) => l.ifname)).not.toContain(host.names.holder)
    })
  })
}
