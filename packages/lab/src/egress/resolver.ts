/**
 * How the proxy turns a name into addresses. The proxy resolves every name itself (the sandbox's
 * own answer is never trusted) and dials exactly the address it checked, so a name cannot be
 * rebound between the check and the connect.
 */
import { Resolver as DnsResolver } from 'node:dns/promises'
import { normalizeHostName } from '../spec/network-policy.ts'
import { normalizeAddress } from './addresses.ts'

export interface Resolver {
  /** The name's IPv4 and IPv6 addresses; rejects (code ENOTFOUND, ETIMEOUT, ...) when there are none. */
  resolve(name: string): Promise<string[]>
}

/** A lookup may take this long before it fails with ETIMEOUT. */
export const RESOLVE_TIMEOUT_MS = 5_000
/** Most addresses one answer contributes: a hostile resolver cannot make the proxy try thousands. */
export const MAX_ADDRESSES_PER_NAME = 16

function notFound(name: string, code = 'ENOTFOUND'): Error {
  return Object.assign(new Error(`${code}: ${name} has no address`), { code })
}

/** The host's DNS servers (node:dns, A and AAAA in parallel), each query bounded by `timeoutMs`. */
export function systemResolver(options: { timeoutMs?: number; servers?: string[] } = {}): Resolver {
  const timeoutMs = options.timeoutMs ?? RESOLVE_TIMEOUT_MS
  const dns = new DnsResolver({ timeout: timeoutMs, tries: 2 })
  if (options.servers) dns.setServers(options.servers)
  return {
    async resolve(name) {
      const host = normalizeHostName(name)
      if (!host) throw notFound(name)
      const [v4, v6] = await Promise.allSettled([dns.resolve4(host), dns.resolve6(host)])
      const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])]
      if (found.length === 0) {
        const failure = v4.status === 'rejected' ? v4.reason as { code?: string } : undefined
        throw notFound(host, failure?.code === 'ETIMEOUT' ? 'ETIMEOUT' : 'ENOTFOUND')
      }
      return found.slice(0, MAX_ADDRESSES_PER_NAME)
    },
  }
}

/**
 * A fixed table of names (tests' "internet" hosts, or an operator's overrides). Names are
 * matched case-insensitively without a trailing dot; an unknown name fails with ENOTFOUND.
 */
export function hostsResolver(map: Readonly<Record<string, readonly string[]>>): Resolver {
  const table = new Map<string, string[]>()
  for (const [name, addresses] of Object.entries(map)) {
    const host = normalizeHostName(name)
    if (!host) throw new Error(`hosts map: "${name}" is not a host name`)
    for (const a of addresses) {
      if (!normalizeAddress(a)) throw new Error(`hosts map: "${a}" (for ${name}) is not an IP address`)
    }
    // Kept as written (an IPv4-mapped form stays one): the proxy normalizes what it checks.
    table.set(host, addresses.slice(0, MAX_ADDRESSES_PER_NAME))
  }
  return {
    async resolve(name) {
      const host = normalizeHostName(name)
      const found = host === undefined ? undefined : table.get(host)
      if (!found || found.length === 0) throw notFound(name)
      return [...found]
    },
  }
}
