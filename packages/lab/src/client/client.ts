import http from 'node:http'
import https from 'node:https'
import WebSocket from 'ws'

import type { Attach, CreateSessionRequest, CreatedSessionInfo, PoolInfo, SessionInfo } from '@infra-lab/sdk'

/**
 * The benchmarks' and integration tests' own HTTP client: plain node:http with keep-alive agents,
 * so a benchmark measures the gateway, not a fetch layer. Clients of the API (the CLI, the web
 * app, agents) use @infra-lab/sdk; the shapes here are the SDK's, generated from /openapi.json.
 */
export type { Attach, CreateSessionRequest }
export type Session = SessionInfo
export type CreatedSession = CreatedSessionInfo
export type Pool = PoolInfo
export type PoolStatus = PoolInfo['status']

const httpAgent = new http.Agent({ keepAlive: true })
const httpsAgent = new https.Agent({ keepAlive: true })

export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError'
  constructor(readonly status: number, readonly code: string, message: string, readonly retryAfterS?: number) {
    super(message)
  }
}

/** Typed client of the gateway API, used by the CLI, the benchmarks and the tests. */
export class LabClient {
  readonly baseUrl: string
  constructor(baseUrl: string, private readonly apiKey: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '')
  }

  createSession(req: CreateSessionRequest): Promise<CreatedSession> {
    return this.request('POST', '/v1/sessions', req)
  }
  getSession(id: string): Promise<Session> {
    return this.request('GET', `/v1/sessions/${encodeURIComponent(id)}`)
  }
  async listSessions(filter: { user?: string; state?: string; pool?: string } = {}): Promise<Session[]> {
    const q = new URLSearchParams(Object.entries(filter).filter(([, v]) => v !== undefined) as [string, string][])
    const qs = q.toString()
    return (await this.request<{ sessions: Session[] }>('GET', `/v1/sessions${qs ? `?${qs}` : ''}`)).sessions
  }
  async deleteSession(id: string): Promise<void> {
    await this.request('DELETE', `/v1/sessions/${encodeURIComponent(id)}`)
  }
  attach(id: string): Promise<Attach> {
    return this.request('POST', `/v1/sessions/${encodeURIComponent(id)}/attach`)
  }
  async pools(): Promise<Pool[]> {
    return (await this.request<{ pools: Pool[] }>('GET', '/v1/pools')).pools
  }
  pool(name: string): Promise<Pool> {
    return this.request('GET', `/v1/pools/${encodeURIComponent(name)}`)
  }

  /** GET /metrics (Prometheus text; needs no key). */
  async metricsText(): Promise<string> {
    let res: { status: number; text: string }
    try {
      res = await this.send('GET', '/metrics', {}, undefined)
    } catch (err) {
      throw new ApiRequestError(0, 'unreachable', `cannot reach the gateway at ${this.baseUrl}: ${(err as Error).message}`)
    }
    if (res.status !== 200) throw new ApiRequestError(res.status, 'http_error', `GET /metrics answered ${res.status}`)
    return res.text
  }

  /** Closes every kept-alive connection of every client (the next request opens a new one). */
  static closeIdleConnections(): void {
    httpAgent.destroy()
    httpsAgent.destroy()
  }

  /** Opens the terminal WebSocket of an attach (binary = terminal bytes, text = JSON control). */
  openTerminal(attach: Attach): WebSocket {
    const ws = new WebSocket(this.terminalUrl(attach), { perMessageDeflate: false })
    ws.binaryType = 'nodebuffer'
    return ws
  }

  terminalUrl(attach: Attach): string {
    return `${this.baseUrl.replace(/^http/, 'ws')}${attach.url}?token=${encodeURIComponent(attach.token)}`
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.apiKey}` }
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    if (payload) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = String(payload.length)
    }
    let res: { status: number; retryAfter: string | undefined; text: string }
    try {
      res = await this.send(method, path, headers, payload)
    } catch (err) {
      throw new ApiRequestError(0, 'unreachable', `cannot reach the gateway at ${this.baseUrl}: ${(err as Error).message}`)
    }
    if (res.status === 204) return undefined as T
    let json: unknown
    try {
      json = res.text ? JSON.parse(res.text) : undefined
    } catch {
      throw new ApiRequestError(res.status, 'bad_response', `gateway answered ${res.status} with a body that is not JSON`)
    }
    if (res.status >= 400) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error
      throw new ApiRequestError(res.status, e?.code ?? 'http_error', e?.message ?? `HTTP ${res.status}`, res.retryAfter ? Number(res.retryAfter) : undefined)
    }
    return json as T
  }

  /** One request on a kept-alive connection (node:http: far less per-call overhead than fetch). */
  private send(method: string, path: string, headers: Record<string, string>, payload: Buffer | undefined) {
    const url = new URL(`${this.baseUrl}${path}`)
    const mod = url.protocol === 'https:' ? https : http
    return new Promise<{ status: number; retryAfter: string | undefined; text: string }>((resolve, reject) => {
      const req = mod.request(url, { method, headers, agent: url.protocol === 'https:' ? httpsAgent : httpAgent }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, text: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      })
      req.setTimeout(120_000, () => req.destroy(new Error('request timed out after 120 s')))
      req.on('error', reject)
      req.end(payload)
    })
  }
}
