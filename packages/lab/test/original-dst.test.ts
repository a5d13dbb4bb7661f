// originalDstOf on real connections: a client in a network namespace this test makes reaches the
// host over a veth, and nftables rules in the host's namespace (a table of this test's own)
// redirect its connections to servers in this process, as the egress rules do for a sandbox.
import { execFile } from 'node:child_process'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NFT_HINT, runTool } from '../src/drivers/host/host-tool.ts'
import { originalDstOf, type OriginalDst } from '../src/drivers/host/original-dst.ts'
import { tcpFromNamespace } from './netns.test-util.ts'

const run = promisify(execFile)
const NS = `ilab-od-${process.pid}`
const VETH = `ilod${process.pid % 100_000}`
const TABLE = `ilab_odtest_${process.pid}`
const HOST4 = '198.51.100.1'
const CLIENT4 = '198.51.100.2'
const HOST6 = '2001:db8:1::1'
const CLIENT6 = '2001:db8:1::2'

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces, nftables)' : undefined

interface Seen {
  readonly label: string
  readonly dst: OriginalDst | undefined
}

/** A server that records, per connection, the label the client sends and what originalDstOf said. */
async function recordingServer(host: string, seen: Seen[]): Promise<{ server: Server; port: number }> {
  const server = createServer((s: Socket) => {
    const dst = originalDstOf(s)
    let label = ''
    s.on('data', (d: Buffer) => (label += d.toString('utf8')))
    s.on('end', () => {
      seen.push({ label, dst })
      s.end('ok')
    })
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve))
  return { server, port: (server.address() as { port: number }).port }
}

describe.skipIf(skip !== undefined)(`originalDstOf on redirected connections${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const seen: Seen[] = []
  const servers: Server[] = []
  let p4 = 0
  let pMapped = 0
  let p6 = 0
  let pUntracked = 0

  beforeAll(async () => {
    await run('ip', ['netns', 'add', NS])
    await run('ip', ['link', 'add', VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS])
    await run('ip', ['addr', 'add', `${HOST4}/32`, 'peer', `${CLIENT4}/32`, 'dev', VETH])
    await run('ip', ['addr', 'add', `${HOST6}/64`, 'dev', VETH, 'nodad'])
    await run('ip', ['link', 'set', VETH, 'up'])
    for (const cmd of [
      ['link', 'set', 'lo', 'up'], ['link', 'set', 'eth0', 'up'],
      ['addr', 'add', `${CLIENT4}/32`, 'dev', 'eth0'], ['addr', 'add', `${CLIENT6}/64`, 'dev', 'eth0', 'nodad'],
      ['route', 'add', 'default', 'via', HOST4, 'dev', 'eth0', 'onlink'], ['-6', 'route', 'add', 'default', 'via', HOST6, 'dev', 'eth0'],
    ]) await run('ip', ['-n', NS, ...cmd])
    const started = await Promise.all([HOST4, `::ffff:${HOST4}`, HOST6, HOST4].map((h) => recordingServer(h, seen)))
    servers.push(...started.map((s) => s.server))
    ;[p4, pMapped, p6, pUntracked] = started.map((s) => s.port) as [number, number, number, number]
    const rules = `
      table inet ${TABLE} {
        chain nat_prerouting {
          type nat hook prerouting priority dstnat; policy accept;
          iifname "${VETH}" ip daddr 203.0.113.5 tcp dport 80 dnat ip to ${HOST4}:${p4}
          iifname "${VETH}" ip daddr 203.0.113.6 tcp dport 443 dnat ip to ${HOST4}:${pMapped}
          iifname "${VETH}" ip6 daddr 2001:db8:5::5 tcp dport 80 dnat ip6 to [${HOST6}]:${p6}
        }
        chain raw_prerouting {
          type filter hook prerouting priority raw; policy accept;
          iifname "${VETH}" tcp dport ${pUntracked} notrack
        }
        chain raw_output {
          type filter hook output priority raw; policy accept;
          oifname "${VETH}" tcp sport ${pUntracked} notrack
        }
      }`
    await runTool('nft', ['-f', '-'], { stdin: rules, hint: NFT_HINT })
  })

  afterAll(async () => {
    for (const s of servers) s.close()
    await run('nft', ['delete', 'table', 'inet', TABLE]).catch(() => undefined)
    await run('ip', ['link', 'del', VETH]).catch(() => undefined)
    await run('ip', ['netns', 'del', NS]).catch(() => undefined)
  })

  it('answers the address and port a client dialled before DNAT, for IPv4, IPv4 on a dual-stack socket, and IPv6', async () => {
    const out = await tcpFromNamespace(NS, [
      { host: '203.0.113.5', port: 80, label: 'v4' }, { host: '203.0.113.6', port: 443, label: 'mapped' }, { host: '2001:db8:5::5', port: 80, label: 'v6' },
    ])
    expect(out).toEqual({ v4: 'ok', mapped: 'ok', v6: 'ok' })
    expect(seen.find((s) => s.label === 'v4')?.dst).toEqual({ address: '203.0.113.5', port: 80 })
    expect(seen.find((s) => s.label === 'mapped')?.dst).toEqual({ address: '203.0.113.6', port: 443 })
    expect(seen.find((s) => s.label === 'v6')?.dst).toEqual({ address: '2001:db8:5::5', port: 80 })
  })

  it('answers the real destination of a connection nothing redirected, and undefined for one conntrack does not track', async () => {
    const out = await tcpFromNamespace(NS, [{ host: HOST4, port: p4, label: 'direct' }, { host: HOST4, port: pUntracked, label: 'untracked' }])
    expect(out).toEqual({ direct: 'ok', untracked: 'ok' })
    expect(seen.find((s) => s.label === 'direct')?.dst).toEqual({ address: HOST4, port: p4 })
    const untracked = seen.find((s) => s.label === 'untracked')
    expect(untracked).toBeDefined()
    expect(untracked!.dst).toBeUndefined()
  })

  it('refuses a closed socket rather than asking about a descriptor number that may be reused', async () => {
    const { server, port } = await recordingServer('127.0.0.1', [])
    servers.push(server)
    const s = connect(port, '127.0.0.1')
    await new Promise((r) => s.once('connect', r))
    expect(originalDstOf(s)).toEqual({ address: '127.0.0.1', port })
    s.destroy()
    expect(() => originalDstOf(s)).toThrow(/closed/)
  })
})
