/**
 * What the host side of sandbox networking shares between the gateway's EgressHost, the local
 * driver and the Docker driver: the instance tag, the names derived from it, the address ranges
 * and the egress option both drivers take. Pure.
 *
 * Every name starts `lx<tag>`, so one nftables interface pattern (`lx<tag>*`) covers all of an
 * instance's sandbox links: the address holder `lx<tag>`, a local sandbox's veth
 * `lx<tag><index>` (index of its address in the subnet) and the Docker bridge `lx<tag>d`.
 * Linux interface names have at most 15 bytes: 2 + 8 + 5.
 */
import { createHash } from 'node:crypto'
import { isIPv4 } from 'node:net'
import { resolve } from 'node:path'
import { DEFAULT_EGRESS_SUBNET } from '../../spec/network-policy.ts'

/** The gateway's egress proxy as the drivers' sandboxes need it. */
export interface EgressOptions {
  /** The proxy's address inside every sandbox (DEFAULT_PROXY_IP): its DNS server and HTTP(S)_PROXY host. */
  readonly proxyIp: string
  /** The gateway's CA certificate (PEM), trusted by every network sandbox. */
  readonly caCertPem: string
  /** The gateway instance (egressTag): names its interfaces, nftables table and Docker network. */
  readonly tag: string
}

/** Eight hex digits: a fixed length, so no tag's interface pattern matches another tag's names. */
export const EGRESS_TAG_RE = /^[0-9a-f]{8}$/

/** The tag of the gateway instance that owns `dataDir` (sha256 of its absolute path). */
export function egressTag(dataDir: string): string {
  return createHash('sha256').update(`egress:${resolve(dataDir)}`).digest('hex').slice(0, 8)
}

/** Host-wide: every gateway leases its sandboxes' addresses and Docker subnets here (egress-leases.ts). */
export const EGRESS_LEASES_DIR = '/run/infra-lab/egress-leases'
/** One /24 of this range per instance for its Docker network (10.89.N.0/24, gateway .1). */
export const DOCKER_EGRESS_RANGE = '10.89.0.0/16'

export function egressNames(tag: string) {
  if (!EGRESS_TAG_RE.test(tag)) throw new Error(`egress tag ${JSON.stringify(tag)} must be 8 lower-case hex digits (egressTag)`)
  return {
    /** Holds the proxy address, so the proxy can bind it before any sandbox exists. */
    holder: `lx${tag}`,
    /** nftables pattern matching every link of this instance. */
    ifacePattern: `lx${tag}*`,
    /** Host end of a local sandbox's veth pair. */
    veth: (index: number) => `lx${tag}${index}`,
    dockerBridge: `lx${tag}d`,
    dockerNetwork: `infra-lab-${tag}`,
    /** nftables table (inet family). */
    table: `infra_lab_${tag}`,
    /** A local sandbox's network namespace, under /run/netns. */
    netns: (sandboxId: string) => `lab-${tag}-${sandboxId}`,
  }
}
export type EgressNames = ReturnType<typeof egressNames>

export interface Ipv4Subnet {
  /** Network address as an unsigned 32-bit integer. */
  readonly base: number
  readonly prefix: number
  /** Number of addresses in it. */
  readonly size: number
}

export function ipv4ToInt(address: string): number {
  if (!isIPv4(address)) throw new Error(`${JSON.stringify(address)} is not an IPv4 address`)
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0)
}

export function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.')
}

export function parseIpv4Subnet(cidr: string): Ipv4Subnet {
  const [address, prefixText] = cidr.split('/')
  const prefix = Number(prefixText)
  if (address === undefined || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) throw new Error(`${JSON.stringify(cidr)} is not an IPv4 subnet from /8 to /30`)
  const size = 2 ** (32 - prefix)
  const base = ipv4ToInt(address)
  if (base % size !== 0) throw new Error(`${cidr}: the address is not the subnet's first`)
  return { base, prefix, size }
}

/** The first usable address of the default sandbox subnet (10.88.0.1): the proxy's. */
export const DEFAULT_PROXY_IP = intToIpv4(parseIpv4Subnet(DEFAULT_EGRESS_SUBNET).base + 1)

/** What is wrong with an egress option, for a driver's option check. Pure. */
export function egressErrors(e: EgressOptions | undefined): string[] {
  if (e === undefined) return []
  const errors: string[] = []
  if (!EGRESS_TAG_RE.test(e.tag)) errors.push('egress.tag must be 8 lower-case hex digits (egressTag(dataDir))')
  if (!isIPv4(e.proxyIp)) errors.push('egress.proxyIp must be an IPv4 address')
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(e.caCertPem)) errors.push('egress.caCertPem must be a PEM certificate')
  return errors
}
