import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { LookupFunction } from 'node:net'
import { resolveWebhookTarget, type Lookup } from './target.ts'
import { signatureHeader } from './signature.ts'

/** One attempt may take this long, connect to last byte read. */
export const WEBHOOK_TIMEOUT_MS = 10_000
/** Bytes of a refusing answer kept for `lastError`; the rest is not read. */
const MAX_ERROR_BODY_BYTES = 512

export interface WebhookPost {
  readonly url: string
  readonly secret: string
  /** The event's JSON, sent and signed as is. */
  readonly body: string
  readonly eventType: string
  readonly deliveryId: string
  /** The signature's time. */
  readonly unixS: number
}

/** What an attempt came to: the answer's status (null: none), and why it failed (null: it did not). */
export interface WebhookResult {
  readonly status: number | null
  readonly error: string | null
}

export interface PostOptions {
  readonly lookup: Lookup
  readonly allowPrivate: boolean
  readonly timeoutMs?: number
}

/**
 * POSTs one signed delivery. The host is resolved and judged here, and the connection goes to
 * the very address judged (the request's own lookup answers with it), so a name that resolves
 * somewhere else between the check and the connect reaches nothing it was not allowed to.
 * Redirects are not followed: a 3xx is a failed attempt like any answer but 2xx.
 */
export async function postWebhook(p: WebhookPost, opts: PostOptions): Promise<WebhookResult> {
  const url = new URL(p.url)
  let address: string
  try {
    address = await resolveWebhookTarget(url, opts)
  } catch (err) {
    return { status: null, error: (err as Error).message }
  }
  const family = address.includes(':') ? 6 : 4
  const pinned = ((_host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    if (options.all) cb(null, [{ address, family }])
    else cb(null, address, family)
  }) as unknown as LookupFunction
  const options: RequestOptions = {
    method: 'POST',
    agent: false,
    lookup: pinned,
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(p.body),
      'user-agent': 'infra-lab-webhooks',
      'x-infra-lab-event': p.eventType,
      'x-infra-lab-delivery': p.deliveryId,
      'x-infra-lab-signature': signatureHeader(p.secret, p.body, p.unixS),
    },
  }
  return new Promise<WebhookResult>((resolve) => {
    let settled = false
    const finish = (r: WebhookResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve(r)
    }
    const onResponse = (res: IncomingMessage): void => {
      const status = res.statusCode ?? 0
      if (status >= 200 && status < 300) return finish({ status, error: null })
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
        if (Buffer.byteLength(text) >= MAX_ERROR_BODY_BYTES) done()
      })
      const done = () => finish({ status, error: `HTTP ${status}${text.trim() ? `: ${text.trim().slice(0, MAX_ERROR_BODY_BYTES)}` : ''}` })
      res.once('end', done)
      res.once('error', done)
    }
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, onResponse)
    const timeoutMs = opts.timeoutMs ?? WEBHOOK_TIMEOUT_MS
    const timer = setTimeout(() => finish({ status: null, error: `no answer within ${timeoutMs / 1000} s` }), timeoutMs)
    req.once('error', (err: NodeJS.ErrnoException) => finish({ status: null, error: err.code ? `${err.code}: ${err.message}` : err.message }))
    req.end(p.body)
  })
}
