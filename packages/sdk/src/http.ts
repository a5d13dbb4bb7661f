import type { ApiErrorCode } from './error-codes.generated.ts'
import { ERROR_CATALOGUE } from './errors.generated.ts'
import { BadResponseError, GatewayUnreachableError, InfraLabError, type ErrorDetail } from './errors.ts'

/** A request body of raw bytes. */
export type RequestBody = NonNullable<RequestInit['body']>

/** A list is the parameter repeated (`?label=a=1&label=b=2`). */
export type Query = Readonly<Record<string, string | number | boolean | readonly string[] | undefined>>

export interface RequestOptions {
  readonly query?: Query
  /** Sent as JSON. */
  readonly json?: unknown
  /** Sent as is (uploads, stdin); a ReadableStream is streamed where the runtime can. */
  readonly body?: RequestBody
  readonly headers?: Readonly<Record<string, string>>
  readonly signal?: AbortSignal
}

/** The gateway's base URL, its key and the runtime's fetch: every HTTP call goes through here. */
export class Transport {
  readonly baseUrl: string

  constructor(baseUrl: string, private readonly apiKey: string, private readonly fetchImpl: typeof fetch) {
    let u: URL
    try {
      u = new URL(baseUrl)
    } catch {
      throw new TypeError(`InfraLab: url must be an absolute http(s) URL, got ${JSON.stringify(baseUrl)}`)
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`InfraLab: url must be http or https, got ${u.protocol}`)
    this.baseUrl = u.href.replace(/\/+$/, '')
  }

  url(path: string, query?: Query): string {
    const q = new URLSearchParams()
    for (const [k, v] of Object.entries(query ?? {})) {
      if (Array.isArray(v)) for (const item of v) q.append(k, item)
      else if (v !== undefined) q.set(k, String(v))
    }
    const qs = q.toString()
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`
  }

  /** A JSON call: the parsed body of a 2xx (undefined for 204), else the catalogue's error. */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, { ...opts, headers: { accept: 'application/json', ...opts.headers } })
    if (res.status === 204) {
      await res.body?.cancel()
      return undefined as T
    }
    return readJson<T>(res)
  }

  /** Any call: the Response of a 2xx (its body unread), else the catalogue's error. */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.apiKey}`, ...opts.headers }
    let body = opts.body
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(opts.json)
    }
    const init: RequestInit & { duplex?: 'half' } = { method, headers, ...(body !== undefined ? { body } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }
    // A stream body needs half duplex (Node's fetch refuses it otherwise; browsers ask it too).
    if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) init.duplex = 'half'
    let res: Response
    try {
      res = await this.fetchImpl(this.url(path, opts.query), init)
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? err
      throw new GatewayUnreachableError(`cannot reach the gateway at ${this.baseUrl}: ${describeCause(err)}`, { cause: err })
    }
    if (res.status >= 400) throw await errorFromResponse(res)
    return res
  }
}

export async function readJson<T>(res: Response): Promise<T> {
  const text = await res.text()
  try {
    return JSON.parse(text) as T
  } catch {
    throw new BadResponseError(`the gateway answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, { status: res.status })
  }
}

/** The error of a 4xx/5xx answer: the subclass of its catalogue code, with details and Retry-After. */
export async function errorFromResponse(res: Response): Promise<InfraLabError> {
  const text = await res.text().catch(() => '')
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  const retry = res.headers.get('retry-after')
  const retryAfterS = retry !== null && retry.trim() !== '' && Number.isFinite(Number(retry)) ? Number(retry) : undefined
  return errorFromBody(body, res.status, retryAfterS)
    ?? new BadResponseError(`the gateway answered HTTP ${res.status} without an error body${text ? `: ${text.slice(0, 200)}` : ''}`, { status: res.status })
}

/** `{"error": {"code", "message", "details"?}}` as the catalogue's error, or undefined for another shape. */
export function errorFromBody(body: unknown, status: number, retryAfterS?: number): InfraLabError | undefined {
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error
  if (typeof e?.code !== 'string' || typeof e.message !== 'string') return undefined
  const known = Object.hasOwn(ERROR_CATALOGUE, e.code) ? ERROR_CATALOGUE[e.code as ApiErrorCode] : undefined
  const init = {
    status: status || (known?.status ?? 0),
    ...(Array.isArray(e.details) ? { details: e.details as ErrorDetail[] } : {}),
    ...(retryAfterS !== undefined ? { retryAfterS } : {}),
  }
  // A code this SDK does not know (a newer gateway) keeps its name on the base class.
  return known ? new known.errorClass(e.message, init) : new InfraLabError(e.code as ApiErrorCode, status, e.message, init)
}

function describeCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  const parts = [(err as Error).message, cause?.code ?? cause?.message].filter(Boolean)
  return parts.join(': ')
}
