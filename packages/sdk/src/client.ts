import { Transport } from './http.ts'
import { Session, type SessionContext } from './session.ts'
import type { WebSocketConstructor } from './terminal.ts'
import type { CreatedSessionInfo, CreateSessionRequest, KeepaliveRequest, ListSessionsQuery, PoolInfo, SessionInfo } from './types.ts'

export interface InfraLabOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:8080 (in a browser on the gateway's page: location.origin). */
  readonly url: string
  /** The gateway's API key (`Authorization: Bearer`). */
  readonly apiKey: string
  /** Default: the global fetch. */
  readonly fetch?: typeof fetch
  /** For terminals. Default: the global WebSocket (browsers, Node 22+); in Node 20 pass `ws`'s. */
  readonly WebSocket?: WebSocketConstructor
}

type Opts = { readonly signal?: AbortSignal }

/** The client of one gateway: `new InfraLab({ url, apiKey })`. */
export class InfraLab {
  readonly sessions: Sessions
  readonly pools: Pools
  private readonly transport: Transport

  constructor(opts: InfraLabOptions) {
    if (!opts || typeof opts.apiKey !== 'string' || opts.apiKey === '') throw new TypeError('InfraLab: apiKey is required')
    const f = opts.fetch ?? globalThis.fetch
    if (typeof f !== 'function') throw new TypeError('InfraLab: no fetch here: pass one, new InfraLab({ url, apiKey, fetch })')
    // Called bare, a browser's fetch throws "Illegal invocation".
    this.transport = new Transport(opts.url, opts.apiKey, opts.fetch ?? ((input, init) => globalThis.fetch(input, init)))
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    const ctx: SessionContext = { transport: this.transport, WebSocket: WS }
    this.sessions = new Sessions(ctx)
    this.pools = new Pools(this.transport)
  }

  get url(): string {
    return this.transport.baseUrl
  }

  /** What the dashboard draws: pool history, claim outcomes and latencies, failures, live sessions. */
  stats<T = unknown>(opts: Opts = {}): Promise<T> {
    return this.transport.json<T>('GET', '/v1/stats', opts)
  }
}

export class Sessions {
  /** @internal */
  constructor(private readonly ctx: SessionContext) {}

  /** Claims a warm sandbox for `user` (or cold-starts one); the body is POST /v1/sessions's. */
  async create(req: CreateSessionRequest, opts: Opts = {}): Promise<Session> {
    return new Session(this.ctx, await this.ctx.transport.json<CreatedSessionInfo>('POST', '/v1/sessions', { json: req, ...opts }))
  }

  async get(id: string, opts: Opts = {}): Promise<Session> {
    return new Session(this.ctx, await this.ctx.transport.json<SessionInfo>('GET', `/v1/sessions/${encodeURIComponent(id)}`, opts))
  }

  /** `session.keepalive()` by id: resets its idleness and, with `timeoutS`, moves its end of life. */
  async keepalive(id: string, req: KeepaliveRequest = {}, opts: Opts = {}): Promise<Session> {
    return new Session(this.ctx, await this.ctx.transport.json<SessionInfo>('POST', `/v1/sessions/${encodeURIComponent(id)}/keepalive`, { json: req, ...opts }))
  }

  /** Newest first. */
  async list(query: ListSessionsQuery = {}, opts: Opts = {}): Promise<Session[]> {
    const r = await this.ctx.transport.json<{ sessions: SessionInfo[] }>('GET', '/v1/sessions', { query, ...opts })
    return r.sessions.map((s) => new Session(this.ctx, s))
  }
}

export class Pools {
  /** @internal */
  constructor(private readonly t: Transport) {}

  async list(opts: Opts = {}): Promise<PoolInfo[]> {
    return (await this.t.json<{ pools: PoolInfo[] }>('GET', '/v1/pools', opts)).pools
  }

  get(name: string, opts: Opts = {}): Promise<PoolInfo> {
    return this.t.json<PoolInfo>('GET', `/v1/pools/${encodeURIComponent(name)}`, opts)
  }
}
