/**
 * The addresses a sandbox may never reach unless its policy names the exact address: the host
 * itself, its private networks and everything a cloud puts on link-local (metadata). IPv6 forms
 * that carry an IPv4 address inside (mapped, compatible, NAT64, 6to4, Teredo) are judged by the
 * IPv4 address they carry, so `::ffff:127.0.0.1` is loopback wherever it is checked.
 */
import { networkInterfaces } from 'node:os'
import ipaddr from 'ipaddr.js'

type Address = ipaddr.IPv4 | ipaddr.IPv6
type Cidr = [Address, number]

const cidrs = (list: readonly string[]): Cidr[] => list.map((c) => ipaddr.parseCIDR(c))

const ALWAYS_DENIED_V4 = cidrs([
  '0.0.0.0/8', // unspecified / "this network" (Linux connects 0.0.0.0 to loopback)
  '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', // private
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, cloud metadata (169.254.169.254)
  '192.0.0.0/24', // IETF protocol assignments (DS-Lite, NAT64 discovery)
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, and 255.255.255.255 broadcast
])

const ALWAYS_DENIED_V6 = cidrs([
  '::/96', // unspecified, loopback and the deprecated IPv4-compatible form: never a real destination
  'fe80::/10', // link-local
  'fec0::/10', // site-local (deprecated, still routed by some stacks)
  'fc00::/7', // unique local (the IPv6 private range)
  'ff00::/8', // multicast
  '64:ff9b:1::/48', // local-use NAT64 (RFC 8215): the IPv4 inside sits at a prefix-dependent place
  '100::/64', // discard-only
])

/** IPv6 prefixes whose last 32 bits are an IPv4 address. */
const EMBEDS_V4_IN_LOW_BITS = cidrs(['::ffff:0:0/96', '::/96', '64:ff9b::/96', '::ffff:0:0:0/96'])

/** Parses an IP literal (no brackets, no zone); undefined when it is not one. */
export function parseAddress(text: string): Address | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text
  if (bare.includes('%') || !ipaddr.isValid(bare)) return undefined
  // ipaddr.js also accepts "0x7f.1" and "127.1" style IPv4; only four-part decimal is an address here.
  if (!bare.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(bare)) return undefined
  return ipaddr.parse(bare)
}

/** The canonical text of an address, IPv4-mapped IPv6 turned into plain IPv4 (what we dial and compare). */
export function normalizeAddress(text: string): string | undefined {
  const addr = parseAddress(text)
  if (!addr) return undefined
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) return (addr as ipaddr.IPv6).toIPv4Address().toString()
  return addr.kind() === 'ipv6' ? (addr as ipaddr.IPv6).toRFC5952String() : addr.toString()
}

function v4FromParts(hi: number, lo: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff])
}

/** The address and every IPv4 address an IPv6 form of it carries (mapped, compatible, NAT64, 6to4, Teredo). */
export function addressForms(addr: Address): Address[] {
  if (addr.kind() === 'ipv4') return [addr]
  const v6 = addr as ipaddr.IPv6
  const p = v6.parts
  const forms: Address[] = [v6]
  if (EMBEDS_V4_IN_LOW_BITS.some((c) => v6.match(c))) forms.push(v4FromParts(p[6]!, p[7]!))
  if (v6.match(ipaddr.parseCIDR('2002::/16'))) forms.push(v4FromParts(p[1]!, p[2]!)) // 6to4
  if (v6.match(ipaddr.parseCIDR('2001::/32'))) { // Teredo: server in clear, client obfuscated
    forms.push(v4FromParts(p[2]!, p[3]!), v4FromParts(p[6]! ^ 0xffff, p[7]! ^ 0xffff))
  }
  return forms
}

function inDeniedRanges(addr: Address): boolean {
  const list = addr.kind() === 'ipv4' ? ALWAYS_DENIED_V4 : ALWAYS_DENIED_V6
  return list.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits))
}

/** How often the host's own addresses are read again (interfaces come and go: veths, Docker bridges). */
export const HOST_ADDRESSES_REFRESH_MS = 2_000

let hostCache: { at: number; set: ReadonlySet<string> } | undefined

/** The host's own addresses (every interface, normalized), read at most every HOST_ADDRESSES_REFRESH_MS. */
export function hostAddresses(now: number = Date.now()): ReadonlySet<string> {
  if (hostCache && now - hostCache.at < HOST_ADDRESSES_REFRESH_MS) return hostCache.set
  const set = new Set<string>()
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      const n = normalizeAddress(info.address)
      if (n) set.add(n)
    }
  }
  hostCache = { at: now, set }
  return set
}

/**
 * True when the address (or an IPv4 address an IPv6 form of it carries) is loopback, unspecified,
 * link-local, private, CGNAT, multicast, broadcast, reserved, or one of the host's own addresses.
 * Text that is not an address is denied too: nothing unparseable is ever dialed.
 */
export function isAlwaysDenied(text: string, own: ReadonlySet<string> = hostAddresses()): boolean {
  const addr = parseAddress(text)
  if (!addr) return true
  return addressForms(addr).some((form) => inDeniedRanges(form) || own.has(normalizeAddress(form.toString())!))
}
