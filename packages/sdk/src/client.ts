import { readEvents, type EventsOptions } from './events.ts'
import { Transport } from './http.ts'
import { Session, type SessionContext } from './session.ts'
import type { WebSocketConstructor } from './terminal.ts'
import type {
  CreatedSessionInfo, CreatedWebhook, CreateSessionRequest, CreateWebhookRequest, LabEvent, ListSessionsQuery, PoolInfo, SessionInfo, WebhookInfo,
} from './types.ts'

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
  /** Webhooks (the admin key only). */
  readonly webhooks: Webhooks
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
    this.webhooks = new Webhooks(this.transport)
  }

  get url(): string {
    return this.transport.baseUrl
  }

  /** What the dashboard draws: pool history, claim outcomes and latencies, failures, live sessions. */
  stats<T = unknown>(opts: Opts = {}): Promise<T> {
    return this.transport.json<T>('GET', '/v1/stats', opts)
  }

  /**
   * The gateway's events (GET /v1/events), in order, as they happen: `for await (const e of
   * lab.events({ types: ['session.ended'] }))`. A scoped key gets its users' and pools' only. A
   * broken stream is resumed after the last event seen (`reconnect: false` ends instead); stop
   * with `break` or the signal.
   */
  events(opts: EventsOptions = {}): AsyncGenerator<LabEvent> {
    return readEvents(this.transport, opts)
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

export class Webhooks {
  /** @internal */
  constructor(private readonly t: Transport) {}

  /** Events of these types are POSTed to `url`, signed; the answer's `secret` is shown this once. */
  create(req: CreateWebhookRequest, opts: Opts = {}): Promise<CreatedWebhook> {
    return this.t.json<CreatedWebhook>('POST', '/v1/webhooks', { json: req, ...opts })
  }

  async list(opts: Opts = {}): Promise<WebhookInfo[]> {
    return (await this.t.json<{ webhooks: WebhookInfo[] }>('GET', '/v1/webhooks', opts)).webhooks
  }

  async delete(id: string, opts: Opts = {}): Promise<void> {
    await this.t.json<undefined>('DELETE', `/v1/webhooks/${encodeURIComponent(id)}`, opts)
  }
}
