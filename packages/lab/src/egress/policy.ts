/**
 * A session's network policy compiled into the checks the proxy asks on every connection. Pure
 * apart from the host's own addresses, which come from a function the caller may replace.
 *
 * The rules: deny beats allow; `none` denies everything; `open` allows everything but the deny
 * patterns and the always-denied addresses; `allow` allows what an allow pattern covers. A
 * pattern without a port covers 80 and 443 in an allow list and every port in a deny list. The
 * always-denied addresses (addresses.ts) pass only when an allow pattern names that exact address.
 */
import ipaddr from 'ipaddr.js'
import { DEFAULT_EGRESS_PORTS, normalizeHostName, parseEgressPattern, type EgressPattern, type NetworkPolicy } from '../spec/network-policy.ts'
import { addressForms, hostAddresses, isAlwaysDenied, normalizeAddress, parseAddress } from './addresses.ts'

/** Why a destination was refused: a closed set, safe as a metric label and in a 403 body. */
export type DenyReason = 'egress_none' | 'not_allowed' | 'denied_by_rule' | 'always_denied' | 'dns_failed' | 'limit' | 'bad_request'

export type Verdict = { readonly allowed: true; readonly reason: 'allowed' } | { readonly allowed: false; readonly reason: DenyReason }

const ALLOWED: Verdict = { allowed: true, reason: 'allowed' }
const deny = (reason: DenyReason): Verdict => ({ allowed: false, reason })

export interface CompiledPolicy {
  readonly policy: NetworkPolicy
  /**
   * Before resolving: false only when the name alone settles it (egress none, a deny pattern,
   * or no allow pattern that could cover it on this port). True means "resolve, then judgeAddress".
   */
  judgeName(name: string, port: number): Verdict
  /** The final word on one dial: the resolved (or original) address, the port, and the name asked for, if any. */
  judgeAddress(ip: string, port: number, name?: string): Verdict
  /** For DNS: may this name be allowed on some port (so resolving it is worth answering)? */
  allowsNameAtAll(name: string): boolean
  /** For DNS answers: may this address of this name be allowed on some port? */
  allowsAddressAtAll(ip: string, name: string): boolean
}

export interface CompileOptions {
  /** The host's own addresses, always denied; default: every interface, refreshed (addresses.ts). */
  readonly hostAddresses?: () => ReadonlySet<string>
  /**
   * false: an exactly listed address does not lift the always-denied set. The ECS proxy runs
   * with the gateway's own network position (its security group reaches sandboxes' agents and
   * EFS), so there no private address is ever reachable. Default true.
   */
  readonly exactExceptions?: boolean
}

type PortRule = (port: number) => boolean

interface Rule {
  readonly pattern: EgressPattern
  readonly coversPort: PortRule
  readonly cidr?: [ipaddr.IPv4 | ipaddr.IPv6, number]
}

function compileList(texts: readonly string[] | undefined, list: 'allow' | 'deny'): Rule[] {
  return (texts ?? []).map((text) => {
    const pattern = parseEgressPattern(text)
    if (!pattern) throw new Error(`network policy: "${text}" in ${list} is not a pattern`)
    const coversPort: PortRule = pattern.port !== undefined ? (p) => p === pattern.port
      : list === 'allow' ? (p) => (DEFAULT_EGRESS_PORTS as readonly number[]).includes(p) : () => true
    if (pattern.kind !== 'cidr') return { pattern, coversPort }
    const base = ipaddr.parse(pattern.address)
    // An IPv4-mapped CIDR (::ffff:10.0.0.0/104) is the IPv4 CIDR it names: compare like with like.
    const cidr: [ipaddr.IPv4 | ipaddr.IPv6, number] = base.kind() === 'ipv6' && (base as ipaddr.IPv6).isIPv4MappedAddress() && pattern.prefix >= 96
      ? [(base as ipaddr.IPv6).toIPv4Address(), pattern.prefix - 96] : [base, pattern.prefix]
    return { pattern, coversPort, cidr }
  })
}

function nameMatches(p: EgressPattern, name: string): boolean {
  if (p.kind === 'domain') return p.name === name
  if (p.kind === 'wildcard') return name.endsWith(`.${p.suffix}`)
  return false
}

function addressMatches(rule: Rule, forms: readonly (ipaddr.IPv4 | ipaddr.IPv6)[]): boolean {
  const cidr = rule.cidr
  if (!cidr) return false
  return forms.some((a) => a.kind() === cidr[0].kind() && a.match(cidr))
}

/** Compiles a policy; throws on a pattern the grammar rejects (the API validates before this). */
export function compilePolicy(policy: NetworkPolicy, options: CompileOptions = {}): CompiledPolicy {
  const own = options.hostAddresses ?? (() => hostAddresses())
  const allow = compileList(policy.allow, 'allow')
  const denyRules = compileList(policy.deny, 'deny')
  const allowHasCidr = allow.some((r) => r.cidr)

  const normName = (name: string): string | undefined => normalizeHostName(name)

  const exactlyListed = (ip: string, port: number | undefined): boolean => (options.exactExceptions ?? true) && allow.some((r) =>
    r.pattern.kind === 'cidr' && r.pattern.exact && normalizeAddress(r.pattern.address) === ip && (port === undefined || r.coversPort(port)))

  const judgeName = (rawName: string, port: number): Verdict => {
    if (policy.egress === 'none') return deny('egress_none')
    const name = normName(rawName)
    if (!name) return deny('bad_request')
    if (denyRules.some((r) => r.coversPort(port) && nameMatches(r.pattern, name))) return deny('denied_by_rule')
    if (policy.egress === 'open') return ALLOWED
    if (allow.some((r) => r.coversPort(port) && (nameMatches(r.pattern, name) || r.cidr !== undefined))) return ALLOWED
    return deny('not_allowed')
  }

  const judgeAddress = (rawIp: string, port: number, rawName?: string): Verdict => {
    if (policy.egress === 'none') return deny('egress_none')
    const ip = normalizeAddress(rawIp)
    const parsed = ip === undefined ? undefined : parseAddress(ip)
    if (ip === undefined || !parsed) return deny('bad_request')
    const name = rawName === undefined ? undefined : normName(rawName)
    if (rawName !== undefined && name === undefined) return deny('bad_request')
    const forms = addressForms(parsed)
    if (denyRules.some((r) => r.coversPort(port) && ((name !== undefined && nameMatches(r.pattern, name)) || addressMatches(r, forms)))) {
      return deny('denied_by_rule')
    }
    const exact = exactlyListed(ip, port)
    if (!exact && isAlwaysDenied(ip, own())) return deny('always_denied')
    if (policy.egress === 'open' || exact) return ALLOWED
    const covered = allow.some((r) => r.coversPort(port) && ((name !== undefined && nameMatches(r.pattern, name)) || addressMatches(r, [parsed])))
    return covered ? ALLOWED : deny('not_allowed')
  }

  const allowsNameAtAll = (rawName: string): boolean => {
    if (policy.egress === 'none') return false
    const name = normName(rawName)
    if (!name) return false
    // Only a deny pattern covering every port rules a name out of DNS entirely.
    if (denyRules.some((r) => r.pattern.port === undefined && nameMatches(r.pattern, name))) return false
    return policy.egress === 'open' || allowHasCidr || allow.some((r) => nameMatches(r.pattern, name))
  }

  const allowsAddressAtAll = (rawIp: string, rawName: string): boolean => {
    if (!allowsNameAtAll(rawName)) return false
    const ip = normalizeAddress(rawIp)
    const parsed = ip === undefined ? undefined : parseAddress(ip)
    if (ip === undefined || !parsed) return false
    const name = normName(rawName)!
    const forms = addressForms(parsed)
    if (denyRules.some((r) => r.pattern.port === undefined && addressMatches(r, forms))) return false
    const exact = exactlyListed(ip, undefined)
    if (!exact && isAlwaysDenied(ip, own())) return false
    return policy.egress === 'open' || exact || allow.some((r) => nameMatches(r.pattern, name) || addressMatches(r, [parsed]))
  }

  return { policy, judgeName, judgeAddress, allowsNameAtAll, allowsAddressAtAll }
}
