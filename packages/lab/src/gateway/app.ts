import websocket from '@fastify/websocket'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { systemClock } from '../clock/clock.ts'
import type { LabMetrics } from '../observability/metrics.ts'
import { POOL_SANDBOX_STATES } from '../pool/pool-counts.ts'
import type { Store } from '../store/types.ts'
import { ApiError } from './errors.ts'
import { buildOpenApi } from './openapi.ts'
import type { PoolRuntime } from './pools.ts'
import { requireRouteAuth } from './route-auth.ts'
import {
  createSessionBody, listSessionsQuery, parseOrThrow, poolNameParams, sessionIdParams, terminalQuery,
} from './schemas.ts'
import { toView, type SessionService } from './sessions.ts'
import { buildStats, type StatsDeps } from './stats.ts'
import { registerWeb } from './static.ts'

export interface AppDeps {
  readonly apiKey: string
  readonly store: Store
  readonly pools: ReadonlyMap<string, PoolRuntime>
  readonly sessions: SessionService
  readonly metrics: LabMetrics
  readonly logger: Logger
  readonly maxBodyBytes: number
  readonly wsMaxFrameBytes: number
  /** Called by /healthz; false makes it answer 503. */
  readonly isHealthy?: () => boolean
  /** Pool history and session activity for GET /v1/stats. */
  readonly stats?: Pick<StatsDeps, 'clock' | 'sampler' | 'lastActivityMs'>
  /** Directory of the built web dashboard (packages/web/dist by default); false: none. */
  readonly webDir?: string | false
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

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => sendError(err, req, reply, deps.logger))
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

  // ---- no key -------------------------------------------------------------------------
  app.get('/healthz', async (_req, reply) => {
    const ok = deps.isHealthy?.() ?? true
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable' })
  })
  app.get('/metrics', async (_req, reply) => {
    for (const p of deps.pools.values()) {
      const n = await p.controller.sandboxCounts()
      for (const [state, key] of POOL_SANDBOX_STATES) deps.metrics.poolSandboxes.set({ pool: p.spec.name, state }, n[key])
      deps.metrics.poolTarget.set({ pool: p.spec.name }, p.controller.status().target)
    }
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics())
  })
  app.get('/openapi.json', async () => buildOpenApi())
  if (deps.webDir !== false) await registerWeb(app, deps.webDir)

  // ---- /v1: the API key, unless the route says otherwise (route-auth.ts) --------------
  await app.register(async (v1) => {
    v1.addHook('onRequest', requireRouteAuth(deps.apiKey))

    v1.post('/sessions', async (req, reply) => {
      requireJson(req)
      const body = parseOrThrow(createSessionBody, req.body, 'body')
      const created = await deps.sessions.create(body)
      return reply.code(201).send(created)
    })

    v1.get('/sessions', async (req) => {
      const q = parseOrThrow(listSessionsQuery, req.query, 'query')
      const list = await deps.store.listSessions(q)
      return { sessions: list.map(toView) }
    })

    v1.get('/sessions/:id', async (req) => {
      const { id } = parseOrThrow(sessionIdParams, req.params, 'params')
      return toView(await deps.sessions.get(id))
    })

    v1.delete('/sessions/:id', async (req, reply) => {
      const { id } = parseOrThrow(sessionIdParams, req.params, 'params')
      const s = await deps.sessions.get(id)
      if (s.state !== 'ended') await deps.sessions.end(id, 'terminated')
      return reply.code(204).send()
    })

    v1.post('/sessions/:id/attach', async (req) => {
      const { id } = parseOrThrow(sessionIdParams, req.params, 'params')
      return deps.sessions.issueAttach(id)
    })

    v1.get('/sessions/:id/terminal', {
      websocket: true,
      config: { auth: 'attachToken' },
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

    v1.get('/pools', async () => ({ pools: await Promise.all([...deps.pools.values()].map(poolView)) }))
    v1.get('/pools/:name', async (req) => {
      const { name } = parseOrThrow(poolNameParams, req.params, 'params')
      return poolView(deps.sessions.pool(name))
    })

    v1.get('/stats', async () => buildStats({ pools: deps.pools, metrics: deps.metrics, store: deps.store, clock: systemClock, ...deps.stats }))
  }, { prefix: '/v1' })

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
    },
  }
}

function requireJson(req: FastifyRequest): void {
  const type = req.headers['content-type']
  if (type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError('unsupported_media_type', `send the body as application/json, not ${type.split(';')[0]}`)
  }
  if (type === undefined || req.body === undefined) throw new ApiError('validation_failed', 'a JSON body is required', [{ field: 'body', message: 'required' }])
}

function sendError(err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply, logger: Logger): void {
  let api: ApiError
  if (err instanceof ApiError) api = err
  else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') api = new ApiError('body_too_large', 'the body is larger than the gateway accepts')
  else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') api = new ApiError('unsupported_media_type', 'send the body as application/json')
  else if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') api = new ApiError('invalid_json', 'the body is empty but the content type says JSON')
  else if (err.statusCode === 400 && (err.name === 'SyntaxError' || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/.test(err.message))) {
    api = new ApiError('invalid_json', `the body is not valid JSON: ${err.message}`)
  } else {
    logger.error({ err: { message: err.message, code: err.code, stack: err.stack }, url: req.url.split('?')[0] }, 'unexpected error')
    api = new ApiError('internal', 'internal error; see the gateway log')
  }
  if (api.retryAfterS !== undefined) void reply.header('retry-after', String(api.retryAfterS))
  void reply.code(api.status).send(api.toJSON())
}
