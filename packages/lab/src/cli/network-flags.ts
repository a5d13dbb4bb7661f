import { EGRESS_MODES, parseEgressPattern, type EgressMode, type NetworkPolicy } from '../spec/network-policy.ts'

export interface NetworkFlags {
  readonly egress?: string
  readonly allow?: string[]
  readonly deny?: string[]
}

/**
 * `--egress MODE`, `--allow PATTERN`, `--deny PATTERN` (repeatable) as a policy; undefined when
 * none is given, or the message for a bad one. `--allow` alone means `--egress allow`.
 */
export function parseNetworkFlags(flags: NetworkFlags): NetworkPolicy | undefined | string {
  const allow = flags.allow ?? []
  const deny = flags.deny ?? []
  if (flags.egress === undefined && allow.length === 0 && deny.length === 0) return undefined
  if (flags.egress !== undefined && !(EGRESS_MODES as readonly string[]).includes(flags.egress)) {
    return `--egress must be one of ${EGRESS_MODES.join(', ')}, got "${flags.egress}"`
  }
  const egress = (flags.egress ?? (allow.length > 0 ? 'allow' : undefined)) as EgressMode | undefined
  if (egress === undefined) return '--deny needs --egress open or allow'
  for (const [flag, list] of [['--allow', allow], ['--deny', deny]] as const) {
    const bad = list.find((p) => parseEgressPattern(p) === undefined)
    if (bad !== undefined) return `${flag} "${bad}" is not a pattern: a domain (example.com), a wildcard (*.example.com), a CIDR (203.0.113.0/24) or an address, each with an optional :port`
  }
  return { egress, ...(allow.length ? { allow } : {}), ...(deny.length ? { deny } : {}) }
}
