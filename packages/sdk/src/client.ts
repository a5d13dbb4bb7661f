import { BadResponseError } from './errors.ts'
import { readEvents, type EventsOptions } from './events.ts'
import { Transport } from './http.ts'
import { Keys } from './keys.ts'
import { eachItem } from './pages.ts'
import { Session, type SessionContext } from './session.ts'
import type { WebSocketConstructor } from './terminal.ts'
import type {
  AuditEntry, AuditPage, AuditQuery, CreatedSessionInfo, CreatedWebhook, CreateSessionRequest, CreateWebhookRequest, KeepaliveRequest, LabEvent,
  ListSessionsQuery, PoolInfo, SessionInfo, SessionListPage, Stats, WebhookInfo,
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

/** Which sessions `sessions.list` answers: the query of GET /v1/sessions, with labels as a map. */
export interface SessionListOptions extends Omit<ListSessionsQuery, 'label'> {
  /** Only sessions carrying every one of these labels. */
  readonly labels?: Readonly<Record<string, string>>
}

/** One page of sessions, newest first; `nextCursor` is there while more follow (pass it as `cursor`). */
export type SessionList = Session[] & { readonly nextCursor?: string }

/** Which audit entries `audit` answers: from `since` (an ISO 8601 time or a Date), a page at a time. */
export interface AuditOptions extends Omit<AuditQuery, 'since'> {
  readonly since?: string | Date
}

/** The client of one gateway: `new InfraLab({ url, apiKey })`. */
export class InfraLab {
  readonly sessions: Sessions
  readonly pools: Pools
  /** Scoped API keys (admin key only). */
  readonly keys: Keys
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
    this.keys = new Keys(this.transport)
    this.webhooks = new Webhooks(this.transport)
  }

  get url(): string {
    return this.transport.baseUrl
  }

  /**
   * What the dashboard draws: pool history, claim outcomes and latencies, failures, live
   * sessions, quotas in use and ended reasons over the last day, as this key may see them.
   */
  stats(opts: Opts = {}): Promise<Stats> {
    return this.transport.json<Stats>('GET', '/v1/stats', opts)
  }

  /** One page of the audit log, oldest first (admin key only). */
  audit(query: AuditOptions = {}, opts: Opts = {}): Promise<AuditPage> {
    const { since, ...rest } = query
    return this.transport.json<AuditPage>('GET', '/v1/audit', { query: { ...rest, since: since instanceof Date ? since.toISOString() : since }, ...opts })
  }

  /** Every audit entry from `since` on, oldest first, read a page (`limit`) at a time. */
  auditEntries(query: Omit<AuditOptions, 'cursor'> = {}, opts: Opts = {}): AsyncGenerator<AuditEntry, void, undefined> {
    return eachItem(async (cursor) => {
      const page = await this.audit({ ...query, ...(cursor !== undefined ? { cursor } : {}) }, opts)
      return { items: page.entries, nextCursor: page.nextCursor }
    })
  }

  /**
   * GET /v1/events as its raw text/event-stream body (read it with SseParser), resumed after
   * `lastEventId`. The key goes in the Authorization header, as for every call: never in the URL.
   */
  async eventStream(opts: Opts & { readonly lastEventId?: string } = {}): Promise<ReadableStream<Uint8Array>> {
    const headers = { accept: 'text/event-stream', ...(opts.lastEventId !== undefined ? { 'last-event-id': opts.lastEventId } : {}) }
    const res = await this.transport.send('GET', '/v1/events', { headers, ...(opts.signal ? { signal: opts.signal } : {}) })
    if (!res.body) throw new BadResponseError('the gateway answered GET /v1/events without a body', { status: res.status })
    return res.body
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

  /** `session.keepalive()` by id: resets its idleness and, with `timeoutS`, moves its end of life. */
  async keepalive(id: string, req: KeepaliveRequest = {}, opts: Opts = {}): Promise<Session> {
    return new Session(this.ctx, await this.ctx.transport.json<SessionInfo>('POST', `/v1/sessions/${encodeURIComponent(id)}/keepalive`, { json: req, ...opts }))
  }

  /** One page (`limit`, default 100) of the sessions this key may see, newest first. */
  async list(query: SessionListOptions = {}, opts: Opts = {}): Promise<SessionList> {
    const { labels, ...rest } = query
    const label = labels === undefined ? undefined : Object.entries(labels).map(([k, v]) => `${k}=${v}`)
    const r = await this.ctx.transport.json<SessionListPage>('GET', '/v1/sessions', { query: { ...rest, label }, ...opts })
    const list: SessionList = r.sessions.map((s) => new Session(this.ctx, s))
    return r.nextCursor === undefined ? list : Object.assign(list, { nextCursor: r.nextCursor })
  }

  /** Every session the query matches, newest first, read a page (`limit`) at a time. */
  iterate(query: Omit<SessionListOptions, 'cursor'> = {}, opts: Opts = {}): AsyncGenerator<Session, void, undefined> {
    return eachItem(async (cursor) => {
      const page = await this.list({ ...query, ...(cursor !== undefined ? { cursor } : {}) }, opts)
      return { items: page, nextCursor: page.nextCursor }
    })
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
