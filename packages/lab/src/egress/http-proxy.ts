/**
 * The explicit proxy a sandbox reaches through HTTP_PROXY/HTTPS_PROXY: absolute-form requests
 * (`GET http://host/path`) are forwarded, `CONNECT host:port` opens a tunnel. Node's HTTP parser
 * does the reading, with a bounded head and a head timeout.
 */
import { createServer, request, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { isIP, type Socket } from 'node:net'
import { normalizeHostName } from '../spec/network-policy.ts'
import { openUpstream, type Target } from './dial.ts'
import { forwardable } from './headers.ts'
import type { DenyReason } from './policy.ts'
import type { Session } from './session.ts'
import { pump } from './throttle.ts'
import { runTunnel, type TunnelDeps } from './tunnel.ts'

/** A request head must be complete within this time (slowloris). */
export const HEAD_TIMEOUT_MS = 10_000
const MAX_HEADER_BYTES = 16 * 1024

/** What the sandbox is told: the reason is a closed word, never anything the session configured. */
function statusFor(reason: DenyReason): number {
  return reason === 'limit' ? 429 : reason === 'bad_request' ? 400 : 403
}

/** Sends a last answer and closes; a client that never closes its side is cut after a moment. */
function endWith(socket: Socket, answer: string): void {
  if (socket.writable) socket.end(answer)
  setTimeout(() => socket.destroy(), 1_000).unref()
}

function plainAnswer(status: number, body: string): string {
  const text = `${body}\n`
  const phrase = { 200: 'Connection Established', 400: 'Bad Request', 403: 'Forbidden', 429: 'Too Many Requests', 502: 'Bad Gateway' }[status] ?? 'Error'
  return `HTTP/1.1 ${status} ${phrase}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`
}

/** `host:port` or `[v6]:port` of a CONNECT (a port is required); the host normalized. */
export function parseAuthority(authority: string, defaultPort?: number): { host: string; port: number; isAddress: boolean } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::([0-9]{1,5}))?$/.exec(authority)
  if (!m) return undefined
  const port = m[3] !== undefined ? Number(m[3]) : defaultPort
  if (port === undefined || port < 1 || port > 65_535) return undefined
  const raw = m[1] ?? m[2]!
  if (isIP(raw)) return { host: raw, port, isAddress: true }
  const name = normalizeHostName(raw)
  return name === undefined ? undefined : { host: name, port, isAddress: false }
}

const targetOf = (a: { host: string; port: number; isAddress: boolean }, via: Target['via']): Target =>
  a.isAddress ? { address: a.host, port: a.port, via } : { name: a.host, port: a.port, via }

export function createHttpProxy(deps: TunnelDeps, sessionFor: (source: string) => Session | undefined): Server {
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: deps.headTimeoutMs, requestTimeout: 0, connectionsCheckingInterval: Math.min(1_000, deps.headTimeoutMs) })

  server.on('connection', (socket: Socket) => {
    socket.on('error', () => socket.destroy())
    if (!sessionFor(socket.remoteAddress ?? '')) socket.destroy()
  })
  server.on('clientError', (_err, socket: Socket) => endWith(socket, plainAnswer(400, 'bad_request')))

  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const session = sessionFor(socket.remoteAddress ?? '')
    const authority = parseAuthority(req.url ?? '')
    if (!session || !authority) {
      endWith(socket, plainAnswer(400, 'bad_request'))
      return
    }
    const answer = (status: number, body: string): void => endWith(socket, plainAnswer(status, body))
    void runTunnel(deps, session, socket, targetOf(authority, 'connect'), head, {
      established: () => socket.write('HTTP/1.1 200 Connection Established\r\n\r\n'),
      denied: (reason) => answer(statusFor(reason), reason),
      failed: () => answer(502, 'upstream_failed'),
    }).catch((err: Error) => {
      deps.logger.warn({ err: err.message }, 'egress: CONNECT failed')
      socket.destroy()
    })
  })

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void forwardRequest(deps, sessionFor(req.socket.remoteAddress ?? ''), req, res).catch((err: Error) => {
      deps.logger.warn({ err: err.message }, 'egress: forwarding failed')
      res.destroy()
    })
  })
  return server
}

async function forwardRequest(deps: TunnelDeps, session: Session | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const fail = (status: number, body: string): void => {
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' }).end(`${body}\n`)
    else res.destroy()
  }
  let url: URL | undefined
  try {
    url = new URL(req.url ?? '')
  } catch {
    url = undefined
  }
  const authority = url?.protocol === 'http:' ? parseAuthority(url.host, 80) : undefined
  if (!session || !url || !authority) {
    fail(400, 'bad_request')
    return
  }
  const opened = await openUpstream(session, deps.resolver, targetOf(authority, 'http'))
  if (!opened.ok) {
    if (opened.denied) fail(statusFor(opened.denied), opened.denied)
    else fail(502, 'upstream_failed')
    return
  }
  const { socket, flow } = opened
  socket.once('close', () => flow.release())
  let up: ClientRequest
  try {
    up = request({
      createConnection: () => socket,
      host: flow.address,
      port: authority.port,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers: { ...forwardable(req.headers), host: url.host, connection: 'close' },
      setHost: false,
    })
  } catch {
    socket.destroy()
    fail(400, 'bad_request')
    return
  }
  flow.onClose = () => {
    up.destroy()
    res.destroy()
  }
  const bucket = session.bucket
  const stopUp = pump(req, up, bucket)
  up.on('response', (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, forwardable(upRes.headers))
    const stopDown = pump(upRes, res, bucket)
    upRes.on('error', () => res.destroy())
    res.once('close', () => stopDown())
  })
  up.on('error', () => {
    stopUp()
    fail(502, 'upstream_failed')
  })
  res.once('close', () => {
    if (!up.destroyed) up.destroy()
  })
}
