/**
 * A local network sandbox's own network namespace: `/run/netns/lab-<tag>-<id>`, made by root
 * (so it belongs to the host's user namespace and nothing in the sandbox can reconfigure it),
 * joined to the host by one veth pair and nothing else:
 *
 *   sandbox: lo, eth0 = <leased address>/32, default via <proxy> onlink, no IPv6 on eth0
 *   host:    lx<tag><index> = <proxy>/32 peer <leased address>/32 (the route back), no IPv6
 *
 * The address is leased host-wide (egress-leases.ts); the lease names the namespace and the veth,
 * so destroy, list and teardown find and remove both from the lease alone. What the sandbox may
 * reach through the veth is EgressHost's rules (the proxy's ports, nothing else).
 */
import { DEFAULT_EGRESS_SUBNET } from '../../spec/network-policy.ts'
import { addressCandidates, addressIndex, type EgressLeases, type Lease } from '../host/egress-leases.ts'
import { isMissingLink } from '../host/egress-host.ts'
import type { EgressNames } from '../host/egress-net.ts'
import { HostToolError, IPROUTE_HINT, NSENTER_HINT, runTool } from '../host/host-tool.ts'

export interface SandboxNetns {
  /** The sandbox's address: the proxy tells sessions apart by it. */
  readonly address: string
  /** Path of the namespace, entered (nsenter --net) before bwrap starts. */
  readonly netnsPath: string
}

export interface SandboxNetnsInput {
  readonly names: EgressNames
  readonly proxyIp: string
  readonly runtimeDir: string
  readonly sandboxId: string
  readonly leases: EgressLeases
}

const netnsPath = (name: string) => `/run/netns/${name}`

/** The commands that build it, in order: [tool, args, stdin]. Pure. */
export function netnsCommands(netns: string, iface: string, address: string, proxyIp: string): [string, string[], string?][] {
  return [
    ['ip', ['netns', 'add', netns]],
    // Before eth0 moves in: it takes the namespace's defaults, so it never gets an IPv6 address.
    ['nsenter', [`--net=${netnsPath(netns)}`, '--', 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']],
    ['ip', ['-b', '-'], [
      `link add ${iface} type veth peer name eth0 netns ${netns}`,
      `link set ${iface} addrgenmode none`,
      `addr add ${proxyIp}/32 peer ${address}/32 dev ${iface}`,
      `link set ${iface} up`,
    ].join('\n') + '\n'],
    ['ip', ['-n', netns, '-b', '-'], [
      'link set lo up',
      `addr add ${address}/32 dev eth0`,
      'link set eth0 up',
      `route add default via ${proxyIp} dev eth0 onlink`,
    ].join('\n') + '\n'],
  ]
}

/** Leases an address and builds the namespace; on failure removes what it made and rethrows. */
export async function createSandboxNetns(i: SandboxNetnsInput): Promise<SandboxNetns> {
  const netns = i.names.netns(i.sandboxId)
  const lease = await i.leases.acquire(addressCandidates(DEFAULT_EGRESS_SUBNET, [i.proxyIp]), (address) => ({
    runtimeDir: i.runtimeDir, sandboxId: i.sandboxId, netns, iface: i.names.veth(addressIndex(DEFAULT_EGRESS_SUBNET, address)),
  }))
  try {
    for (const [tool, args, stdin] of netnsCommands(netns, lease.iface!, lease.value, i.proxyIp)) {
      await runTool(tool, args, { hint: tool === 'nsenter' ? `${NSENTER_HINT} procps` : IPROUTE_HINT, ...(stdin === undefined ? {} : { stdin }) })
    }
    return { address: lease.value, netnsPath: netnsPath(netns) }
  } catch (err) {
    await removeLeased(i.leases, lease).catch(() => undefined)
    throw new Error(`network namespace of sandbox ${i.sandboxId}: ${(err as Error).message}`, { cause: err })
  }
}

/** Removes the namespaces, veths and leases of `runtimeDir`'s sandboxes that `which` picks. Returns how many. */
export async function removeSandboxNetns(leases: EgressLeases, runtimeDir: string, which: (sandboxId: string) => boolean): Promise<number> {
  let removed = 0
  for (const lease of await leases.owned(runtimeDir)) {
    if (lease.sandboxId === undefined || !which(lease.sandboxId)) continue
    await removeLeased(leases, lease)
    removed++
  }
  return removed
}

/** The veth (both ends go with it), the namespace, then the lease; what is already gone is fine. */
async function removeLeased(leases: EgressLeases, lease: Lease): Promise<void> {
  if (lease.iface !== undefined) {
    await runTool('ip', ['link', 'del', lease.iface], { hint: IPROUTE_HINT }).catch((err: unknown) => {
      if (!isMissingLink(err)) throw err
    })
  }
  if (lease.netns !== undefined) {
    await runTool('ip', ['netns', 'del', lease.netns], { hint: IPROUTE_HINT }).catch((err: unknown) => {
      if (!(err instanceof HostToolError && /No such file/.test(err.stderr))) throw err
    })
  }
  await leases.release(lease)
}
