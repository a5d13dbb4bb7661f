/** Header hygiene for the requests and responses the proxy forwards. */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { Credential } from '../spec/network-policy.ts'

/** Headers that describe one hop, never forwarded (RFC 9110 7.6.1), plus the proxy's own. */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect',
])

/** Copies `headers` without hop-by-hop ones (and those the Connection header names). */
export function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(String(headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()).filter(Boolean))
  const out: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || name.startsWith('proxy-')) continue
    out[name] = value
  }
  return out
}

/** `headers` with each credential's header set to its value, replacing whatever the client sent under that name. */
export function withCredentials(headers: OutgoingHttpHeaders, credentials: readonly Credential[]): OutgoingHttpHeaders {
  const out = { ...headers }
  for (const c of credentials) {
    const name = c.header.toLowerCase()
    for (const key of Object.keys(out)) if (key.toLowerCase() === name) delete out[key]
  }
  for (const c of credentials) out[c.header.toLowerCase()] = c.value
  return out
}
