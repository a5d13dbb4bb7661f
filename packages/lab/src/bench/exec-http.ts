import http from 'node:http'
import type { Readable } from 'node:stream'

/** One answer, read whole: status, headers and body. */
export interface HttpAnswer {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: Buffer
}

/**
 * A plain HTTP/1.1 client on one keep-alive connection per target: what `bench exec` times is
 * the gateway, so the client does as little as it can (no fetch/undici layers, no TLS, no new
 * TCP connection per call; the first call of a series opens the socket and is warm-up anyway).
 */
export class BenchHttp {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
  private readonly base: URL

  constructor(baseUrl: string, private readonly apiKey: string) {
    this.base = new URL(baseUrl)
  }

  /** A JSON request (or none); the whole answer. */
  json(method: string, path: string, body?: unknown, headers: http.OutgoingHttpHeaders = {}): Promise<HttpAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const h: http.OutgoingHttpHeaders = { ...headers, authorization: `Bearer ${this.apiKey}` }
    if (payload) {
      h['content-type'] = 'application/json'
      h['content-length'] = payload.length
    }
    return new Promise((resolve, reject) => {
      const req = this.request(method, path, h, (res) => readAnswer(res, resolve, reject))
      req.on('error', reject)
      req.end(payload)
    })
  }

  /** A JSON request whose answer is read as it arrives (`onData` per chunk); resolves with the status once it ends. */
  streamed(method: string, path: string, body: unknown, headers: http.OutgoingHttpHeaders, onData: (chunk: Buffer) => void): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
    const payload = Buffer.from(JSON.stringify(body))
    const h = { ...headers, authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json', 'content-length': payload.length }
    return new Promise((resolve, reject) => {
      const req = this.request(method, path, h, (res) => {
        res.on('data', onData)
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(payload)
    })
  }

  /** Sends `body` as an octet stream of `length` bytes (piped: never held whole); the whole answer. */
  upload(method: string, path: string, body: Readable, length: number): Promise<HttpAnswer> {
    const h = { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/octet-stream', 'content-length': length }
    return new Promise((resolve, reject) => {
      const req = this.request(method, path, h, (res) => readAnswer(res, resolve, reject))
      req.on('error', reject)
      // An early answer (413, 507) ends the upload: stop feeding it.
      body.on('error', (err) => req.destroy(err))
      body.pipe(req)
    })
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy()
  }

  private request(method: string, path: string, headers: http.OutgoingHttpHeaders, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    return http.request({ host: this.base.hostname, port: this.base.port, method, path, headers, agent: this.agent }, onResponse)
  }
}

/** The body of an answer as JSON, or an error naming the status and what came back. */
export function answerJson<T>(a: HttpAnswer, expected: number, what: string): T {
  if (a.status !== expected) throw new Error(`${what}: HTTP ${a.status} (expected ${expected}): ${a.body.toString('utf8').slice(0, 300)}`)
  return JSON.parse(a.body.toString('utf8')) as T
}

/** The whole answer, once it has ended. */
function readAnswer(res: http.IncomingMessage, resolve: (a: HttpAnswer) => void, reject: (err: Error) => void): void {
  const chunks: Buffer[] = []
  res.on('data', (c: Buffer) => chunks.push(c))
  res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
  res.on('error', reject)
}
