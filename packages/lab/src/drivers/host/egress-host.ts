/**
 * The host side of one gateway instance's sandbox networking: the address the egress proxy
 * listens on, and the nftables rules that make the proxy every network sandbox's only way out.
 *
 * Sandboxes reach the host over links named `lx<tag>*` (a local sandbox's veth, the Docker
 * bridge). From them:
 * - TCP to <proxy>:3128 goes to the proxy's HTTP port; TCP/UDP to any :53 to its DNS port; TCP
 *   to any :80 or :443 to its transparent port (the proxy reads the original destination with
 *   originalDstOf), so a program that ignores the proxy variables is judged by the same policy;
 * - the host accepts only those three ports on the proxy address: the gateway's API, every other
 *   host service and every other host address are refused;
 * - nothing is forwarded: no route out, no sandbox reaches another;
 * - a packet whose source address does not route back through the link it came in on is dropped.
 *
 * Refusals from a sandbox are rejected (admin-prohibited), so its programs fail at once instead of
 * waiting for a timeout. The rules live in one table, `inet infra_lab_<tag>`, rewritten as a whole
 * in one nft transaction: `up()` after a gateway restart (new proxy ports) replaces them atomically.
 */
import { writeFile } from 'node:fs/promises'
import { DEFAULT_PROXY_IP, egressNames, type EgressNames } from './egress-net.ts'
import { HostToolError, IPROUTE_HINT, NFT_HINT, runTool } from './host-tool.ts'
import { DriverError } from '../types.ts'
import { SANDBOX_DNS_PORT, SANDBOX_PROXY_PORT } from '../../spec/network-policy.ts'

/** The proxy's real listening ports on the proxy address. */
export interface EgressPorts {
  /** HTTP proxy (plain requests and CONNECT): what sandboxes reach at <proxy>:3128. */
  readonly http: number
  /** Redirected TCP to ports 80 and 443. */
  readonly transparent: number
  /** DNS, TCP and UDP. */
  readonly dns: number
}

/** The nftables script that (re)creates the instance's table atomically. Pure. */
export function egressRuleset(names: EgressNames, proxyIp: string, ports: EgressPorts): string {
  const bad = Object.entries(ports).filter(([, p]) => !Number.isInteger(p) || p < 1 || p > 65_535)
  if (bad.length > 0) throw new Error(`egress ports must be integers from 1 to 65535: ${bad.map(([k, p]) => `${k}=${String(p)}`).join(', ')}`)
  if (new Set(Object.values(ports)).size !== 3) throw new Error('egress ports must be three different ports')
  const t = names.table
  const from = `iifname "${names.ifacePattern}"`
  return [
    // Declare, delete, create: one transaction whether or not the table exists.
    `table inet ${t}`,
    `delete table inet ${t}`,
    `table inet ${t} {`,
    '  chain raw_prerouting {',
    '    type filter hook prerouting priority raw; policy accept;',
    `    ${from} fib saddr . iif oif missing drop`,
    '  }',
    '  chain nat_prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    ${from} ip daddr ${proxyIp} tcp dport ${SANDBOX_PROXY_PORT} dnat ip to ${proxyIp}:${ports.http}`,
    `    ${from} meta l4proto { tcp, udp } th dport ${SANDBOX_DNS_PORT} dnat ip to ${proxyIp}:${ports.dns}`,
    `    ${from} tcp dport { 80, 443 } dnat ip to ${proxyIp}:${ports.transparent}`,
    '  }',
    '  chain filter_input {',
    '    type filter hook input priority filter; policy accept;',
    `    ${from} ct state established,related accept`,
    `    ${from} ip daddr ${proxyIp} tcp dport { ${ports.http}, ${ports.transparent}, ${ports.dns} } accept`,
    `    ${from} ip daddr ${proxyIp} udp dport ${ports.dns} accept`,
    `    ${from} reject with icmpx admin-prohibited`,
    '  }',
    '  chain filter_forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    ${from} reject with icmpx admin-prohibited`,
    `    oifname "${names.ifacePattern}" drop`,
    '  }',
    '}',
    '',
  ].join('\n')
}

/** The script that removes the table whether or not it exists. Pure. */
export function egressTeardownRuleset(names: EgressNames): string {
  return `table inet ${names.table}\ndelete table inet ${names.table}\n`
}

/**
 * One gateway instance's host networking, keyed by its tag (egressTag(dataDir)). Several
 * instances run side by side: each has its own holder, table and pattern; the proxy address
 * may be the same on all of them (the proxies listen on different ports).
 */
export class EgressHost {
  readonly names: EgressNames
  readonly proxyIp: string

  constructor(opts: { readonly tag: string; readonly proxyIp?: string }) {
    this.names = egressNames(opts.tag)
    this.proxyIp = opts.proxyIp ?? DEFAULT_PROXY_IP
  }

  /**
   * Puts the proxy address on the holder link `lx<tag>` (a dummy, or an empty bridge on kernels
   * without dummy links), so the proxy can bind it before any sandbox exists. Idempotent.
   */
  async ensureAddress(): Promise<void> {
    const holder = this.names.holder
    try {
      await this.createHolder('dummy')
    } catch (err) {
      if (!isUnknownType(err)) throw err
      await this.createHolder('bridge')
    }
    // The holder carries no IPv6: nothing of the sandboxes' side speaks it.
    await writeFile(`/proc/sys/net/ipv6/conf/${holder}/disable_ipv6`, '1').catch(() => undefined)
    await runTool('ip', ['-b', '-'], { stdin: `addr replace ${this.proxyIp}/32 dev ${holder}\nlink set ${holder} up\n`, hint: IPROUTE_HINT })
  }

  /** Writes the rules for the proxy's current ports (replacing any earlier ones), after ensureAddress. */
  async up(ports: EgressPorts): Promise<void> {
    const script = egressRuleset(this.names, this.proxyIp, ports)
    await this.ensureAddress()
    await runTool('nft', ['-f', '-'], { stdin: script, hint: NFT_HINT })
  }

  /** Removes the rules and the holder. Idempotent. */
  async down(): Promise<void> {
    await runTool('nft', ['-f', '-'], { stdin: egressTeardownRuleset(this.names), hint: NFT_HINT })
    await runTool('ip', ['link', 'del', this.names.holder], { hint: IPROUTE_HINT }).catch((err: unknown) => {
      if (!isMissingLink(err)) throw err
    })
  }

  /** Makes the holder link; one of that name already there is fine. */
  private async createHolder(type: 'dummy' | 'bridge'): Promise<void> {
    await runTool('ip', ['link', 'add', this.names.holder, 'type', type], { hint: IPROUTE_HINT }).catch((err: unknown) => {
      if (!(err instanceof HostToolError && /File exists/.test(err.stderr))) throw err
    })
  }
}

function isUnknownType(err: unknown): boolean {
  return err instanceof HostToolError && /Unknown device type|not supported/i.test(err.stderr)
}

/**
 * Whether the rules of the instance are in place. Drivers with an egress proxy ask before every
 * network sandbox and refuse to start one without them: a sandbox link without the rules would
 * reach every service of the host.
 */
export async function egressRulesInstalled(names: EgressNames): Promise<boolean> {
  try {
    await runTool('nft', ['list', 'table', 'inet', names.table], { hint: NFT_HINT })
    return true
  } catch (err) {
    if (err instanceof HostToolError && /No such file/.test(err.stderr)) return false
    throw err
  }
}

/** Refuses (DriverError 'unavailable') when the instance's rules are not installed. */
export async function requireEgressRules(names: EgressNames): Promise<void> {
  if (!(await egressRulesInstalled(names))) {
    throw new DriverError('unavailable', `no egress rules for ${names.ifacePattern} (nftables table inet ${names.table}): the gateway's EgressHost.up() must run before network sandboxes start`)
  }
}

/** `ip link del` of a link that is not there. */
export function isMissingLink(err: unknown): boolean {
  return err instanceof HostToolError && /Cannot find device|does not exist/.test(err.stderr)
}
