/**
 * A session's network policy and injected credentials: the shapes the API, the config and the
 * store share, and the pattern grammar. Pure; imports nothing of ours. The egress proxy
 * (egress/) compiles and enforces them.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { z } from 'zod'

export const EGRESS_MODES = ['none', 'allow', 'open'] as const
export type EgressMode = (typeof EGRESS_MODES)[number]

/** Most patterns in one allow or deny list. */
export const MAX_EGRESS_PATTERNS = 256
/** Most credentials one session may carry. */
export const MAX_CREDENTIALS = 16
export const MAX_CREDENTIAL_VALUE_BYTES = 8192
/** A pattern without a port covers these (in an allow list; a deny pattern without a port covers every port). */
export const DEFAULT_EGRESS_PORTS = [80, 443] as const

/**
 * One parsed pattern. `port` undefined: 80 and 443 in an allow list, every port in a deny list.
 * - domain: `example.com` (that name only)
 * - wildcard: `*.npmjs.org` (subdomains only, never the bare domain)
 * - cidr: `203.0.113.0/24`, `2001:db8::/32`, or one address (`203.0.113.7`, `[2001:db8::1]:443`), `exact` then
 */
export type EgressPattern =
  | { readonly kind: 'domain'; readonly name: string; readonly port?: number }
  | { readonly kind: 'wildcard'; readonly suffix: string; readonly port?: number }
  | { readonly kind: 'cidr'; readonly family: 4 | 6; readonly address: string; readonly prefix: number; readonly exact: boolean; readonly port?: number }

const LABEL_RE = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/

/** A host name as DNS and SNI carry it: lower case, no trailing dot, labels of [a-z0-9_-]. Undefined if not one. */
export function normalizeHostName(input: string): string | undefined {
  let name = input.toLowerCase()
  if (name.endsWith('.')) name = name.slice(0, -1)
  if (name.length === 0 || name.length > 253) return undefined
  const labels = name.split('.')
  if (!labels.every((l) => LABEL_RE.test(l))) return undefined
  // All-numeric last label: an IPv4 literal in disguise (1.2.3.4, 0x7f.1), never a name.
  if (/^[0-9]+$/.test(labels[labels.length - 1]!) || /^0x/.test(labels[labels.length - 1]!)) return undefined
  return name
}

function parsePort(s: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(s)) return undefined
  const n = Number(s)
  return n >= 1 && n <= 65_535 ? n : undefined
}

/** Splits `host:port`, `[v6]:port`, `cidr:port`; a bare IPv6 address or CIDR has no port. */
function splitPort(p: string): { host: string; port?: number } | undefined {
  if (p.startsWith('[')) {
    const end = p.indexOf(']')
    if (end < 0) return undefined
    const host = p.slice(1, end)
    const rest = p.slice(end + 1)
    if (rest === '') return { host }
    if (!rest.startsWith(':')) return undefined
    const port = parsePort(rest.slice(1))
    return port === undefined ? undefined : { host, port }
  }
  const colons = p.split(':').length - 1
  if (colons === 1) {
    const [host, portText] = p.split(':') as [string, string]
    const port = parsePort(portText)
    return port === undefined ? undefined : { host, port }
  }
  return { host: p } // no colon, or a bare IPv6 address / CIDR
}

/** Parses one pattern; undefined when it is none of the forms. */
export function parseEgressPattern(text: string): EgressPattern | undefined {
  if (text.length === 0 || text.length > 300 || /\s/.test(text)) return undefined
  const split = splitPort(text)
  if (!split) return undefined
  const { host } = split
  const port = split.port === undefined ? {} : { port: split.port }
  const slash = host.indexOf('/')
  if (slash >= 0) {
    const address = host.slice(0, slash)
    const prefixText = host.slice(slash + 1)
    if (!/^[0-9]{1,3}$/.test(prefixText)) return undefined
    const prefix = Number(prefixText)
    const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : undefined
    if (family === undefined || prefix > (family === 4 ? 32 : 128)) return undefined
    return { kind: 'cidr', family, address: address.toLowerCase(), prefix, exact: prefix === (family === 4 ? 32 : 128), ...port }
  }
  if (isIPv4(host)) return { kind: 'cidr', family: 4, address: host, prefix: 32, exact: true, ...port }
  if (isIPv6(host)) return { kind: 'cidr', family: 6, address: host.toLowerCase(), prefix: 128, exact: true, ...port }
  if (host.startsWith('*.')) {
    const suffix = normalizeHostName(host.slice(2))
    return suffix === undefined ? undefined : { kind: 'wildcard', suffix, ...port }
  }
  const name = normalizeHostName(host)
  return name === undefined ? undefined : { kind: 'domain', name, ...port }
}

const PATTERN_HELP = 'is not a pattern: a domain (example.com), a wildcard (*.example.com), a CIDR (203.0.113.0/24) or an address, each with an optional :port'

export const egressPatternSchema = z.string().max(300).refine((p) => parseEgressPattern(p) !== undefined, { message: PATTERN_HELP })

/** `"network"` on create, `PUT /v1/sessions/{id}/network`, and a pool's default (`egress` in config). */
export const networkPolicySchema = z.object({
  egress: z.enum(EGRESS_MODES),
  allow: z.array(egressPatternSchema).max(MAX_EGRESS_PATTERNS).optional(),
  deny: z.array(egressPatternSchema).max(MAX_EGRESS_PATTERNS).optional(),
}).strict()
export type NetworkPolicy = z.infer<typeof networkPolicySchema>

/** Header names the proxy owns (framing, routing, hop-by-hop): never injected. */
export const UNINJECTABLE_HEADERS = [
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer',
  'proxy-authorization', 'proxy-authenticate', 'proxy-connection', 'expect',
] as const

const HEADER_NAME_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/

export const credentialSchema = z.object({
  /** One host name (no wildcard, no port): the proxy injects on HTTPS to it, port 443. */
  host: z.string().max(253).refine((h) => normalizeHostName(h) !== undefined, { message: 'must be a host name such as api.example.com' }),
  header: z.string().regex(HEADER_NAME_RE, 'must be an HTTP header name')
    .refine((h) => !(UNINJECTABLE_HEADERS as readonly string[]).includes(h.toLowerCase()), { message: 'is a header the proxy owns' }),
  // Visible ASCII and spaces/tabs only: no CR, LF or NUL can split the request.
  value: z.string().min(1).refine((v) => Buffer.byteLength(v) <= MAX_CREDENTIAL_VALUE_BYTES, { message: `must be at most ${MAX_CREDENTIAL_VALUE_BYTES} bytes` })
    .refine((v) => /^[\t\x20-\x7e\x80-\xff]*$/.test(v), { message: 'must not contain control characters' }),
}).strict()
export type Credential = z.infer<typeof credentialSchema>

export const credentialsSchema = z.array(credentialSchema).max(MAX_CREDENTIALS)

/** What a sandbox of a network pool sees: the proxy at a fixed address and ports (the host maps them). */
export const SANDBOX_PROXY_PORT = 3128
export const SANDBOX_DNS_PORT = 53
/** Default range for sandboxes' own addresses (local driver); the first address is the proxy's. */
export const DEFAULT_EGRESS_SUBNET = '10.88.0.0/16'
/** Where a network sandbox finds the gateway's CA (the injection proxy's) and the bundle with it. */
export const SANDBOX_EGRESS_CA = '/etc/infra-lab/egress-ca.pem'
export const SANDBOX_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'

/** The environment every sandbox of a network pool starts with (generic: no session in it). */
export function sandboxProxyEnv(proxyIp: string): Record<string, string> {
  const proxy = `http://${proxyIp}:${SANDBOX_PROXY_PORT}`
  const noProxy = 'localhost,127.0.0.1,::1'
  return {
    HTTP_PROXY: proxy, HTTPS_PROXY: proxy, http_proxy: proxy, https_proxy: proxy,
    NO_PROXY: noProxy, no_proxy: noProxy,
    NODE_EXTRA_CA_CERTS: SANDBOX_EGRESS_CA,
    REQUESTS_CA_BUNDLE: SANDBOX_CA_BUNDLE, SSL_CERT_FILE: SANDBOX_CA_BUNDLE, GIT_SSL_CAINFO: SANDBOX_CA_BUNDLE, CURL_CA_BUNDLE: SANDBOX_CA_BUNDLE,
  }
}
