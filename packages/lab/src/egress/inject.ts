/**
 * Credential injection: for a host the session holds credentials for, the proxy ends the
 * sandbox's TLS with a leaf from the gateway's CA, reads each HTTP/1.1 request, sets the
 * credential headers (replacing any the client sent under those names) and sends it on over one
 * verified TLS connection to the checked address. The values exist only in this process: errors
 * the sandbox sees never carry them.
 */
import { Agent, createServer, request, type ClientRequest, type ClientRequestArgs, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect, TLSSocket, type SecureContext } from 'node:tls'
import type { Logger } from 'pino'
import type { Credential } from '../spec/network-policy.ts'
import { dialAddress, type MutableFlow } from './dial.ts'
import { forwardable, withCredentials } from './headers.ts'
import type { Session } from './session.ts'
import { pump } from './throttle.ts'

/** An injecting tunnel with no request for this long is closed. */
export const INJECT_IDLE_TIMEOUT_MS = 120_000
const HEAD_TIMEOUT_MS = 10_000
const MAX_HEADER_BYTES = 16 * 1024

interface Tunnel {
  readonly session: Session
  readonly host: string
  readonly address: string
  readonly credentials: readonly Credential[]
  readonly agent: Agent
}

/** Completes `tlsConnect` over an already checked TCP connection, verifying the host's certificate. */
function upstreamTls(raw: Socket, host: string, ca: readonly string[]): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket: raw, servername: host, ca: [...ca], ALPNProtocols: ['http/1.1'] })
    const fail = (err: Error): void => {
      raw.destroy()
      reject(err)
    }
    tls.once('error', fail)
    tls.once('secureConnect', () => {
      tls.off('error', fail)
      // Until a request owns it (and after), an error only ends this connection.
      tls.on('error', () => tls.destroy())
      resolve(tls)
    })
  })
}

/**
 * One upstream connection per tunnel, kept alive between requests. The first is the one the
 * tunnel was judged and opened with; a later one (after the host closed it) is judged again.
 */
class TunnelAgent extends Agent {
  private first: TLSSocket | undefined

  constructor(first: TLSSocket, private readonly redial: () => Promise<TLSSocket>) {
    super({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 })
    this.first = first
  }

  override createConnection(_options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const first = this.first
    this.first = undefined
    if (first && !first.destroyed) return first
    this.redial().then((s) => callback?.(null, s), (err: Error) => callback?.(err, undefined as unknown as Duplex))
    return undefined
  }
}

export interface InjectorOptions {
  /** Roots that upstream certificates must chain to (the system's plus any extra). */
  readonly upstreamCa: readonly string[]
  readonly logger: Logger
}

export interface Injector {
  /**
   * Takes over `client` (bytes it already read may be unshifted into it first): TLS with `leaf`,
   * then requests forwarded to `upstream` (a checked TCP connection to the flow's address, port 443).
   */
  start(client: Socket, leaf: SecureContext, upstream: Socket, session: Session, flow: MutableFlow, host: string): Promise<void>
  close(): void
}

export function createInjector(options: InjectorOptions): Injector {
  const tunnels = new WeakMap<object, Tunnel>()
  // One parser for every tunnel: TLS sockets are handed to it as if it had accepted them.
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 0, headersTimeout: HEAD_TIMEOUT_MS, keepAliveTimeout: INJECT_IDLE_TIMEOUT_MS }, (req, res) => forward(req, res))
  server.timeout = INJECT_IDLE_TIMEOUT_MS
  server.on('clientError', (_err, socket) => socket.destroy())

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const tunnel = tunnels.get(req.socket)
    if (!tunnel) {
      res.destroy()
      return
    }
    const headers = withCredentials({ ...forwardable(req.headers), host: tunnel.host }, tunnel.credentials)
    let up: ClientRequest
    try {
      up = request({ agent: tunnel.agent, host: tunnel.address, port: 443, method: req.method, path: req.url, headers, setHost: false })
    } catch {
      // Node refused the request line or a header: say so without repeating any of it.
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' }).end('bad_request\n')
      return
    }
    const bucket = tunnel.session.bucket
    const stopUp = pump(req, up, bucket)
    up.on('response', (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, forwardable(upRes.headers))
      const stopDown = pump(upRes, res, bucket)
      upRes.on('error', () => res.destroy())
      res.once('close', () => {
        stopDown()
        if (!upRes.complete) upRes.destroy()
      })
    })
    up.on('error', (err) => {
      stopUp()
      options.logger.debug({ host: tunnel.host, err: (err as NodeJS.ErrnoException).code ?? err.message }, 'egress: injected request failed upstream')
      if (res.headersSent) res.destroy()
      else res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end('upstream request failed\n')
    })
    req.on('error', () => up.destroy())
  }

  return {
    async start(client, leaf, upstream, session, flow, host) {
      let upTls: TLSSocket
      try {
        upTls = await upstreamTls(upstream, host, options.upstreamCa)
      } catch (err) {
        options.logger.info({ host, err: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, 'egress: upstream TLS failed for an injecting tunnel')
        client.destroy()
        throw err
      }
      const redial = async (): Promise<TLSSocket> => upstreamTls(await dialAddress(session, flow.address!, 443, host), host, options.upstreamCa)
      const agent = new TunnelAgent(upTls, redial)
      const tls = new TLSSocket(client, { isServer: true, secureContext: leaf, ALPNProtocols: ['http/1.1'] })
      tunnels.set(tls, { session, host, address: flow.address!, credentials: session.credentialsFor(host, 443), agent })
      const closeAll = (): void => {
        tls.destroy()
        client.destroy()
        agent.destroy()
        upTls.destroy()
      }
      flow.onClose = closeAll
      tls.on('error', closeAll)
      client.on('error', closeAll)
      tls.once('close', () => {
        closeAll()
        flow.release()
      })
      server.emit('connection', tls)
    },
    close() {
      server.close()
    },
  }
}
