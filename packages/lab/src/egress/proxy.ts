/**
 * The gateway's egress proxy: three listeners (explicit HTTP proxy, transparent TCP, DNS) shared
 * by every sandbox, each connection attributed to a session ONLY by its source address, which
 * the sandbox cannot choose (its namespace has one address, and the host's rules drop spoofed
 * ones). An unbound source gets nothing.
 */
import type { Server } from 'node:http'
import type { Server as NetServer, Socket } from 'node:net'
import { rootCertificates } from 'node:tls'
import type { Logger } from 'pino'
import type { Credential, NetworkPolicy } from '../spec/network-policy.ts'
import { networkPolicySchema, credentialsSchema } from '../spec/network-policy.ts'
import { normalizeAddress } from './addresses.ts'
import type { EgressCa } from './ca.ts'
import { startDnsServer, type DnsServer } from './dns.ts'
import { createHttpProxy, HEAD_TIMEOUT_MS } from './http-proxy.ts'
import { createInjector, type Injector } from './inject.ts'
import type { CompileOptions } from './policy.ts'
import type { Resolver } from './resolver.ts'
import { Session, type DeniedEntry, type SessionLimits } from './session.ts'
import { tcpCongestion } from './splice-relay.ts'
import { createTransparentProxy, type OriginalDstFn } from './transparent.ts'
import type { TunnelDeps } from './tunnel.ts'

/** Client connections one listener accepts at once, over all sessions. */
export const MAX_CLIENT_CONNECTIONS = 10_000

/**
 * The congestion control of the sandbox's side of every tunnel. That hop is short and the
 * operator's own (a veth inside this host, or the VPC to an ECS task), so cubic, Linux's default,
 * which sends as the window allows. Hosts that make BBR their default (many cloud images do)
 * would otherwise pace every send of this hop with a timer: on a busy 2-core host that held a
 * pass-through tunnel to about a third of a direct transfer (docs/results/egress.md). The
 * upstream's side keeps the host's default, made for the internet. Set on the listeners, since
 * a connection that began with BBR keeps its pacing when changed later.
 */
export const SANDBOX_HOP_CONGESTION = 'cubic'

export interface EgressProxyOptions {
  /** The address the listeners bind (the host side of the sandboxes' network, or 127.0.0.1 in tests). */
  readonly host: string
  /** 0 or absent: an ephemeral port. */
  readonly ports?: { readonly http?: number; readonly transparent?: number; readonly dns?: number }
  readonly resolver: Resolver
  /** The original destination of a redirected connection (SO_ORIGINAL_DST); without it the transparent port closes everything. */
  readonly originalDst?: OriginalDstFn
  readonly ca: EgressCa
  /** Extra roots trusted for upstream TLS when injecting (tests' self-signed servers); the system's are always trusted. */
  readonly upstreamCaPems?: readonly string[]
  readonly limits: SessionLimits
  readonly logger: Logger
  /** Every denied attempt, for metrics (`lab_egress_denied_total{pool}`). */
  readonly onDenied?: (entry: DeniedEntry & { readonly pool: string; readonly sessionId: string }) => void
  /** A client's request head (or first bytes on the transparent port) must arrive within this; default HEAD_TIMEOUT_MS. */
  readonly headTimeoutMs?: number
  /** Replaces the host's own addresses (always denied); tests only. */
  readonly hostAddresses?: CompileOptions['hostAddresses']
  /** false: no policy can open an always-denied address, not even by listing it exactly (the ECS proxy). Default true. */
  readonly exactExceptions?: boolean
  /**
   * Pass-through tunnels of sessions without a bytes/s cap are relayed by splice(2) on the
   * addon's threads where it works (Linux, addon built); false keeps every tunnel in the JS relay.
   */
  readonly spliceRelay?: boolean
  /** The congestion control of the sandboxes' connections to the proxy; default SANDBOX_HOP_CONGESTION. */
  readonly sandboxHopCongestion?: string
}

export interface SessionBinding {
  readonly sessionId: string
  readonly pool: string
  readonly policy: NetworkPolicy
  readonly credentials: readonly Credential[]
  /** This session's caps, when they differ from the proxy's (a pool's own). */
  readonly limits?: SessionLimits
}

export interface ListeningPorts {
  readonly http: number
  readonly transparent: number
  readonly dns: number
}

export class EgressProxy {
  private readonly bySource = new Map<string, Session>()
  private readonly byId = new Map<string, Session>()
  private readonly injector: Injector
  private readonly deps: TunnelDeps
  private http: Server | undefined
  private transparent: NetServer | undefined
  private dns: DnsServer | undefined
  /** Every accepted client socket, so close() does not wait for a sandbox to hang up. */
  private readonly clients = new Set<Socket>()

  constructor(private readonly options: EgressProxyOptions) {
    this.injector = createInjector({ upstreamCa: [...rootCertificates, ...(options.upstreamCaPems ?? [])], logger: options.logger })
    this.deps = { resolver: options.resolver, ca: options.ca, injector: this.injector, logger: options.logger, headTimeoutMs: options.headTimeoutMs ?? HEAD_TIMEOUT_MS, splice: options.spliceRelay ?? true }
  }

  /** The session bound to a source address (any textual form of it), if any. */
  sessionFor = (source: string): Session | undefined => {
    const key = normalizeAddress(source)
    return key === undefined ? undefined : this.bySource.get(key)
  }

  async listen(): Promise<ListeningPorts> {
    const { host, ports = {} } = this.options
    const listen = (server: NetServer, port: number): Promise<number> => new Promise((resolve, reject) => {
      server.maxConnections = MAX_CLIENT_CONNECTIONS
      server.on('connection', (socket: Socket) => {
        this.clients.add(socket)
        socket.once('close', () => this.clients.delete(socket))
      })
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        // best effort: a kernel without it, or not Linux, keeps its default
        tcpCongestion(server, this.options.sandboxHopCongestion ?? SANDBOX_HOP_CONGESTION)
        server.on('error', (err) => this.options.logger.error({ err: err.message }, 'egress: listener error'))
        const addr = server.address()
        resolve(typeof addr === 'object' && addr ? addr.port : port)
      })
    })
    this.http = createHttpProxy(this.deps, this.sessionFor)
    this.transparent = createTransparentProxy(this.deps, this.sessionFor, this.options.originalDst)
    const http = await listen(this.http, ports.http ?? 0)
    const transparent = await listen(this.transparent, ports.transparent ?? 0)
    this.dns = await startDnsServer(host, ports.dns ?? 0, { sessionFor: this.sessionFor, resolver: this.options.resolver, logger: this.options.logger })
    return { http, transparent, dns: this.dns.port }
  }

  async close(): Promise<void> {
    for (const session of this.byId.values()) session.closeAll()
    this.bySource.clear()
    this.byId.clear()
    this.injector.close()
    const closing = [this.http, this.transparent].map((s) => s && new Promise<void>((resolve) => s.close(() => resolve())))
    for (const socket of this.clients) socket.destroy()
    await Promise.all([...closing, this.dns?.close()])
  }

  /** Attributes traffic from `sourceIp` to a session (replacing whatever was bound there). Throws on an invalid policy. */
  bind(sourceIp: string, binding: SessionBinding): void {
    const key = normalizeAddress(sourceIp)
    if (key === undefined) throw new Error(`bind: "${sourceIp}" is not an IP address`)
    const policy = networkPolicySchema.parse(binding.policy)
    const credentials = credentialsSchema.parse(binding.credentials)
    const existing = this.byId.get(binding.sessionId)
    if (existing && this.sourceOf(existing) !== key) throw new Error(`bind: session ${binding.sessionId} is already bound to another address`)
    this.unbind(sourceIp)
    const onDenied = this.options.onDenied
    const session = new Session(binding.sessionId, binding.pool, policy, credentials, binding.limits ?? this.options.limits,
      {
        ...(this.options.hostAddresses ? { hostAddresses: this.options.hostAddresses } : {}),
        ...(this.options.exactExceptions === false ? { exactExceptions: false } : {}),
      },
      (entry) => {
        this.options.logger.info({ sessionId: binding.sessionId, pool: binding.pool, ...entry }, 'egress: denied')
        onDenied?.({ ...entry, pool: binding.pool, sessionId: binding.sessionId })
      })
    this.bySource.set(key, session)
    this.byId.set(binding.sessionId, session)
  }

  /** Forgets `sourceIp`'s session and closes its connections. */
  unbind(sourceIp: string): void {
    const key = normalizeAddress(sourceIp)
    const session = key === undefined ? undefined : this.bySource.get(key)
    if (!session) return
    this.bySource.delete(key!)
    this.byId.delete(session.id)
    session.closeAll()
  }

  /** Replaces a session's policy: new connections are judged by it at once, open ones it no longer allows are closed. */
  setPolicy(sessionId: string, policy: NetworkPolicy): { closed: number } {
    const session = this.byId.get(sessionId)
    if (!session) throw new Error(`setPolicy: no session ${sessionId} is bound`)
    return { closed: session.setPolicy(networkPolicySchema.parse(policy)) }
  }

  /** The session's last denied attempts, oldest first (at most DENIED_LOG_SIZE). */
  denied(sessionId: string): DeniedEntry[] {
    return this.byId.get(sessionId)?.denied() ?? []
  }

  stats(sessionId: string): { connections: number } | undefined {
    const session = this.byId.get(sessionId)
    return session && { connections: session.flows.size }
  }

  private sourceOf(session: Session): string | undefined {
    for (const [source, s] of this.bySource) if (s === session) return source
    return undefined
  }
}
