import { lookup as dnsLookup } from 'node:dns/promises'
import { isAlwaysDenied, parseAddress } from '../../egress/addresses.ts'
import { MAX_ADDRESSES_PER_NAME } from '../../egress/resolver.ts'

/** A host name's addresses (IP text). */
export type Lookup = (host: string) => Promise<string[]>

/** The host's resolver (getaddrinfo: /etc/hosts, then DNS), as anything else on the host would. */
export const systemLookup: Lookup = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address).slice(0, MAX_ADDRESSES_PER_NAME)

export const MAX_WEBHOOK_URL_CHARS = 2048

/** What is wrong with a webhook URL's form (not its addresses), or undefined. */
export function webhookUrlProblem(text: string): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'is not an absolute URL'
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be http or https'
  if (url.username !== '' || url.password !== '') return 'must not carry credentials (sign with the webhook secret instead)'
  if (url.hostname === '') return 'has no host'
  return undefined
}

export class WebhookTargetRefused extends Error {
  override readonly name = 'WebhookTargetRefused'
}

/**
 * Resolves the URL's host and judges every address it has: one loopback, link-local, private,
 * unspecified or multicast address (or an IPv6 form carrying one, or this host's own) refuses the
 * whole name, unless private targets are allowed. Returns the address to connect to: the sender
 * connects to exactly that one, so a name rebound after the check reaches nothing new.
 */
export async function resolveWebhookTarget(url: URL, opts: { readonly lookup: Lookup; readonly allowPrivate: boolean }): Promise<string> {
  const host = url.hostname
  let addresses: string[]
  if (parseAddress(host)) addresses = [host.replace(/^\[|\]$/g, '')]
  else {
    try {
      addresses = await opts.lookup(host)
    } catch (err) {
      throw new WebhookTargetRefused(`${host} does not resolve (${(err as { code?: string }).code ?? String(err)})`)
    }
    if (addresses.length === 0) throw new WebhookTargetRefused(`${host} does not resolve`)
  }
  if (!opts.allowPrivate) {
    const denied = addresses.find((a) => isAlwaysDenied(a))
    if (denied !== undefined) {
      throw new WebhookTargetRefused(`${denied === host ? host : `${host} resolves to ${denied}, which`} is a loopback, private, link-local or otherwise internal address, refused (the gateway's --allow-private-webhooks permits those)`)
    }
  }
  return addresses[0]!
}
