import websocket from '@fastify/websocket'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { z } from 'zod'
import { systemClock, type Clock } from '../clock/clock.ts'
import type { LabMetrics } from '../observability/metrics.ts'
import { POOL_SANDBOX_STATES } from '../pool/pool-counts.ts'
import { StoreUnavailableError } from '../store/errors.ts'
import type { Store } from '../store/types.ts'
import { ApiError, storeUnavailable } from './errors.ts'
import { registerExecRoutes, registerStdinRoute, type ExecRouteDeps } from './exec-routes.ts'
import { registerFileReadRoutes, registerFileWriteRoute } from './file-routes.ts'
import { IdempotencyCache } from './idempotency.ts'
import { registerMcpRoute } from './mcp-route.ts'
import { registerNetworkRoutes } from './network-routes.ts'
import type { SessionNetworks } from './session-network.ts'
import { OpenApiDocument } from './openapi.ts'
import { registerRawBodyScope } from './raw-body.ts'
import { closeLingeringOnShutdown } from './shutdown.ts'
import type { PoolRuntime } from '../pool/runtime.ts'
import { requireRouteAuth } from './route-auth.ts'
import { registerAuditRoutes } from './audit-routes.ts'
import { decodeCursor, encodeCursor } from './cursor.ts'
import type { EventBus } from './event-bus.ts'
import { registerEventsRoute } from './events-route.ts'
import { registerKeyRoutes } from './key-routes.ts'
import { registerWebhookRoutes, type WebhookRouteDeps } from './webhooks/routes.ts'
import { registerKeepaliveRoute } from './keepalive-route.ts'
import { covers, principalOf } from './principal.ts'
import { requireSessionScope } from './session-scope.ts'
import { touchSessionActivity } from './session-activity.ts'
import { jsonSerializerCompiler, zodValidatorCompiler, type ZodTypeProvider } from './route-schema.ts'
import {
  attachSchema, createSessionBody, createdSessionSchema, listSessionsQuery, parseOrThrow, requireJsonBody, poolNameParams, poolSchema, sessionIdParams,
  sessionListSchema, sessionSchema, terminalQuery,
} from './schemas.ts'
import type { SessionService } from './sessions.ts'
import { buildStats, type StatsDeps } from './stats.ts'
import { statsSchema } from './stats-schema.ts'
import { registerWeb } from './static.ts'

export interface AppDeps {
  /** The admin key; scoped keys live in the store. */
  readonly apiKey: string
  readonly store: Store
  readonly pools: ReadonlyMap<string, PoolRuntime>
  readonly sessions: SessionService
  readonly networks: SessionNetworks
  readonly metrics: LabMetrics
  readonly logger: Logger
  readonly maxBodyBytes: number
  readonly wsMaxFrameBytes: number
  /** Largest file upload or stdin body (`maxUploadBytes`). */
  readonly maxUploadBytes: number
  /** Called by /healthz; false makes it answer 503. */
  readonly isHealthy?: () => boolean
  /** This replica's id and the pool leases it holds now, as /healthz reports them. */
  readonly replica?: { readonly id: string; readonly leases: () => string[] }
  /** Pool history and session activity for GET /v1/stats. */
  readonly stats?: Pick<StatsDeps, 'clock' | 'sampler' | 'lastActivityMs'>
  /** Directory of the built web dashboard (packages/web/dist by default); false: none. */
  readonly webDir?: string | false
  /** Key expiry and audit times (default: the system clock). */
  readonly clock?: Clock
  /** The event log's fan-out (GET /v1/events). */
  readonly events: EventBus
  /** How webhook secrets are sealed and their URLs checked. */
  readonly webhooks: Omit<WebhookRouteDeps, 'store' | 'clock'>
}

/** The HTTP + WebSocket API. Routes and JSON shapes are a contract: see docs/api.md. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // (the pino Logger is a FastifyBaseLogger; the cast keeps the instance type the default one)
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.maxBodyBytes,
    // never let a request id or body reach the logs with secrets: we log explicitly
  })

  app.setErrorHandler((err: FastifyError | ApiError | StoreUnavailableError, req, reply) => sendError(err, req, reply, deps.logger))
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(new ApiError('not_found', `no route ${req.method} ${req.url.split('?')[0]}`).toJSON())
  })

  // JSON bodies; an empty one (curl -X DELETE -H 'content-type: application/json') is no body.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req: unknown, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    const text = body as string
    if (text.trim() === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch (err) {
      done(new ApiError('invalid_json', `the body is not valid JSON: ${(err as Error).message}`), undefined)
    }
  })
  await app.register(websocket, { options: { maxPayload: deps.wsMaxFrameBytes } })

  app.setValidatorCompiler(zodValidatorCompiler)
  app.setSerializerCompiler(jsonSerializerCompiler)
  const openapi = new OpenApiDocument()
  openapi.collect(app)
  const streams = closeLingeringOnShutdown(app)

  // ---- no key -------------------------------------------------------------------------
  app.get('/healthz', { schema: { summary: 'Liveness, and the pool leases this replica holds (no key)', responses: { 200: { description: 'OK' }, 503: { description: 'Shutting down' } } } }, async (_req, reply) => {
    const ok = deps.isHealthy?.() ?? true
    const replica = deps.replica ? { replica: deps.replica.id, leases: deps.replica.leases() } : {}
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', ok, ...replica })
  })
  app.get('/metrics', { schema: { summary: 'Prometheus metrics (no key)', responses: { 200: { description: 'Prometheus text format', media: 'text/plain' } } } }, async (_req, reply) => {
    for (const p of deps.pools.values()) {
      const n = await p.controller.sandboxCounts()
      for (const [state, key] of POOL_SANDBOX_STATES) deps.metrics.poolSandboxes.set({ pool: p.spec.name, state }, n[key])
      deps.metrics.poolTarget.set({ pool: p.spec.name }, p.controller.status().target)
    }
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics())
  })
  app.get('/openapi.json', { schema: { summary: 'This document (no key)' } }, async () => openapi.document())
  if (deps.webDir !== false) await registerWeb(app, deps.webDir)

  // ---- /v1: an API key, unless the route says otherwise (route-auth.ts) ---------------
  const clock = deps.clock ?? systemClock
  const keys = { adminKey: deps.apiKey, store: deps.store, clock }
  await app.register(async (scope) => {
    scope.addHook('onRequest', requireRouteAuth(keys))
    scope.addHook('preValidation', requireSessionScope({ get: (id) => deps.store.getSession(id) }))
    scope.addHook('preHandler', touchSessionActivity((id) => deps.sessions.touch(id)))
    const v1 = scope.withTypeProvider<ZodTypeProvider>()
    const sessionErrors = ['session_not_found'] as const

    v1.post('/sessions', {
      schema: {
        summary: 'Create a session (claims a warm sandbox, or cold-starts one)', body: createSessionBody,
        responses: { 201: { description: 'Created', schema: createdSessionSchema } },
        errors: ['invalid_json', 'body_too_large', 'unsupported_media_type', 'forbidden', 'pool_not_found', 'network_unavailable', 'quota_exceeded', 'rate_limited', 'capacity_exhausted', 'claim_timeout', 'pool_unavailable', 'claim_failed'],
      },
      preValidation: async (req) => requireJsonBody(req),
    }, async (req, reply) => {
      // A claim waiting for a sandbox is withdrawn when its caller goes away (the sandbox goes to the next claim).
      const gone = new AbortController()
      reply.raw.on('close', () => reply.raw.writableFinished || gone.abort())
      const created = await deps.sessions.create(req.body, principalOf(req), gone.signal)
      return reply.code(201).send(created)
    })

    v1.get('/sessions', {
      schema: {
        summary: "List sessions, newest first, a page at a time (a scoped key sees only its users' and pools')",
        querystring: listSessionsQuery, responses: { 200: { description: 'OK', schema: sessionListSchema } },
      },
    }, async (req) => {
      const { label, limit, cursor, ...filter } = req.query
      const after = cursor === undefined ? undefined : decodeCursor(cursor, ['number', 'string'] as const)
      const caller = principalOf(req)
      const list = await deps.store.listSessions({
        ...filter, limit,
        labels: (label === undefined ? [] : [label].flat()).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
        ...(caller.kind === 'scoped' ? { scope: { users: caller.key.users, pools: caller.key.pools } } : {}),
        ...(after ? { cursor: { createdAt: after[0], id: after[1] } } : {}),
      })
      const last = list.length === limit ? list[list.length - 1] : undefined
      return { sessions: list.map((s) => deps.sessions.view(s)), ...(last ? { nextCursor: encodeCursor([last.createdAt, last.id]) } : {}) }
    })

    v1.get('/sessions/:id', {
      schema: { summary: 'Get a session', params: sessionIdParams, responses: { 200: { description: 'OK', schema: sessionSchema } }, errors: sessionErrors },
    }, async (req) => deps.sessions.view(await deps.sessions.get(req.params.id)))

    v1.delete('/sessions/:id', {
      schema: { summary: 'End a session (204 also when already ended)', params: sessionIdParams, responses: { 204: { description: 'Ended' } }, errors: sessionErrors },
    }, async (req, reply) => {
      const { id } = req.params
      const s = await deps.sessions.get(id)
      const caller = principalOf(req)
      if (s.state !== 'ended') await deps.sessions.end(id, 'terminated', null, { actor: caller.name, keyId: caller.keyId })
      return reply.code(204).send()
    })

    v1.post('/sessions/:id/attach', {
      schema: { summary: 'Issue a fresh attach token', params: sessionIdParams, responses: { 200: { description: 'OK', schema: attachSchema } }, errors: [...sessionErrors, 'session_ended'] },
    }, async (req) => deps.sessions.issueAttach(req.params.id))

    v1.get('/sessions/:id/terminal', {
      websocket: true,
      config: { auth: 'attachToken' },
      schema: {
        summary: 'WebSocket terminal: binary frames = terminal bytes, text frames = JSON control', params: sessionIdParams, querystring: terminalQuery,
        responses: { 101: { description: 'Switching protocols' } }, errors: ['invalid_token', 'session_unavailable'],
      },
      preValidation: async (req) => {
        // the token first: a caller without one learns nothing, not even whether the id is well formed
        const q = terminalQuery.safeParse(req.query)
        if (!q.success) throw new ApiError('invalid_token', 'the terminal needs ?token=<attach token>')
        const { id } = parseOrThrow(sessionIdParams, req.params, 'params')
        ;(req as FastifyRequest & { labSession?: unknown }).labSession = await deps.sessions.verifyAttachToken(id, q.data.token)
      },
    }, (socket, req) => {
      const session = (req as FastifyRequest & { labSession?: unknown }).labSession as Parameters<SessionService['attachSocket']>[0]
      deps.sessions.attachSocket(session, socket)
    })

    v1.get('/pools', {
      schema: { summary: 'List pools with status', responses: { 200: { description: 'OK', schema: z.object({ pools: z.array(poolSchema) }) } } },
    }, async (req) => ({ pools: await Promise.all([...deps.pools.values()].filter((p) => covers(principalOf(req), { pool: p.spec.name })).map(poolView)) }))
    v1.get('/pools/:name', {
      schema: { summary: 'One pool with status', params: poolNameParams, responses: { 200: { description: 'OK', schema: poolSchema } }, errors: ['pool_not_found'] },
    }, async (req) => {
      // a pool outside the key's scope is not there for it, as a session is not
      if (!covers(principalOf(req), { pool: req.params.name })) throw new ApiError('pool_not_found', `no pool named "${req.params.name}"`)
      return poolView(deps.sessions.pool(req.params.name))
    })

    const agentDeps: ExecRouteDeps = {
      agent: (id) => deps.sessions.agent(id),
      ended: async (id) => (await deps.store.getSession(id))?.state === 'ended',
      idempotency: new IdempotencyCache(),
      maxUploadBytes: deps.maxUploadBytes,
      streams,
    }
    registerKeepaliveRoute(scope, deps.sessions)
    registerNetworkRoutes(scope, { sessions: deps.sessions, networks: deps.networks, store: deps.store, clock })
    registerKeyRoutes(scope, { store: deps.store, clock })
    registerAuditRoutes(scope, { store: deps.store })
    registerEventsRoute(scope, { bus: deps.events, keys, clock, streams })
    registerWebhookRoutes(scope, { store: deps.store, clock, ...deps.webhooks })
    registerExecRoutes(scope, agentDeps)
    registerFileReadRoutes(scope, agentDeps)
    await registerRawBodyScope(scope, (raw) => {
      registerStdinRoute(raw, agentDeps)
      registerFileWriteRoute(raw, agentDeps)
    })

    v1.get('/stats', {
      schema: {
        summary: "Pool history, claim latency histograms, warm hit rate, failures, active sessions, quotas in use and ended reasons over the last day (for the dashboard; a scoped key sees its own pools, users and limits)",
        responses: { 200: { description: 'OK', schema: statsSchema } },
      },
    }, async (req) => buildStats({
      pools: deps.pools, metrics: deps.metrics, store: deps.store, clock: systemClock, maxSessionsPerUser: deps.sessions.limits.maxSessionsPerUser, ...deps.stats,
    }, principalOf(req)))
  }, { prefix: '/v1' })

  // ---- /mcp: the Model Context Protocol, with the API key like /v1 --------------------
  await registerMcpRoute(app, { keys, logger: deps.logger })

  return app
}

/** The pool's counts are read now (every sandbox it owns); target and lastError are the last reconcile's. */
async function poolView(p: PoolRuntime) {
  const st = p.controller.status()
  const n = await p.controller.sandboxCounts()
  return {
    name: p.spec.name,
    spec: p.spec,
    status: {
      ready: n.ready, starting: n.starting, claimed: n.claimed, coldStarting: n.coldStarting, destroying: n.destroying, total: n.total,
      target: st.target, ...(st.lastError ? { lastError: st.lastError } : {}),
      starts: { count: p.controller.starts.count, recent: p.controller.starts.recent().map((e) => ({ at: new Date(e.at).toISOString(), ms: e.ms })) },
    },
  }
}

function sendError(err: FastifyError | ApiError | StoreUnavailableError, req: FastifyRequest, reply: FastifyReply, logger: Logger): void {
  let api: ApiError
  if (err instanceof ApiError) api = err
  else if (err instanceof StoreUnavailableError) {
    logger.warn({ err: err.message, url: req.url.split('?')[0] }, 'store unavailable')
    api = storeUnavailable(err)
  }
  else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') api = new ApiError('body_too_large', 'the body is larger than the gateway accepts')
  else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') api = new ApiError('unsupported_media_type', `send the body as ${req.routeOptions.schema?.consumes ?? 'application/json'}`)
  else if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') api = new ApiError('invalid_json', 'the body is empty but the content type says JSON')
  else if (err.statusCode === 400 && (err.name === 'SyntaxError' || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/.test(err.message))) {
    api = new ApiError('invalid_json', `the body is not valid JSON: ${err.message}`)
  } else {
    logger.error({ err: { message: err.message, code: err.code, stack: err.stack }, url: req.url.split('?')[0] }, 'unexpected error')
    api = new ApiError('internal', 'internal error; see the gateway log')
  }
  if (api.retryAfterS !== undefined) void reply.header('retry-after', String(api.retryAfterS))
  // the rest of a refused upload is not read: the connection closes behind the answer
  if (api.code === 'upload_too_large') void reply.header('connection', 'close')
  void reply.code(api.status).send(api.toJSON())
}
