import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify'
import { z } from 'zod'
import { ERROR_CODES, type ErrorCode } from './errors.ts'
import { routeNeedsKey } from './route-auth.ts'
import { errorSchema } from './schemas.ts'

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const

interface Collected {
  readonly method: string
  readonly url: string
  readonly schema: FastifySchema | undefined
  readonly needsKey: boolean
  /** Only the admin key may call it (`x-admin-only` in the document). */
  readonly adminOnly: boolean
}

/**
 * OpenAPI 3.1 generated from the routes as they are registered: their paths, the zod schemas
 * fastify validates with, and the auth each route's own config selects. Call `collect(app)`
 * before registering routes; a /v1 route without a schema fails at registration, so nothing the
 * API serves under /v1 goes undocumented (route-auth.test.ts asks every operation for its key).
 */
export class OpenApiDocument {
  private readonly routes: Collected[] = []
  private cached: object | undefined

  collect(app: FastifyInstance): void {
    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toLowerCase())
      for (const method of methods) {
        if (!(METHODS as readonly string[]).includes(method)) continue // HEAD and OPTIONS follow their GET
        const url = route.url
        if (!route.schema?.summary) {
          if (url.startsWith('/v1/')) throw new Error(`route ${method.toUpperCase()} ${url} has no schema.summary: every /v1 route is documented`)
          continue // the web app's files
        }
        this.routes.push({ method, url, schema: route.schema, needsKey: routeNeedsKey(url, route.config?.auth), adminOnly: route.config?.auth === 'admin' })
      }
    })
  }

  document(): object {
    this.cached ??= build(this.routes)
    return this.cached
  }
}

function build(routes: readonly Collected[]): object {
  const paths: Record<string, Record<string, object>> = {}
  for (const r of routes) {
    const path = r.url.replace(/:(\w+)/g, '{$1}')
    ;(paths[path] ??= {})[r.method] = operation(r)
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Optima Infra Lab gateway', version: '1', description: 'Warm-pool session gateway: see docs/api.md.' },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: json(errorSchema) },
    },
    paths,
  }
}

function operation(r: Collected): object {
  const s = r.schema ?? {}
  const parameters = [
    ...params(s.params, 'path'),
    ...params(s.querystring, 'query'),
    ...params(s.headers, 'header'),
  ]
  const responses: Record<string, object> = {}
  for (const [status, res] of Object.entries(s.responses ?? { 200: { description: 'OK' } })) {
    // a schema with a media type that is not JSON describes what the stream carries (each SSE event's data)
    const content = res.schema ? { [res.media ?? 'application/json']: { schema: json(res.schema) } } : res.media ? { [res.media]: { schema: res.media === 'application/octet-stream' ? { type: 'string', format: 'binary' } : { type: 'string' } } } : undefined
    responses[status] = { description: res.description, ...(content ? { content } : {}) }
  }
  const codes = new Set<ErrorCode>(s.errors ?? [])
  if (parameters.length > 0 || s.body !== undefined) codes.add('validation_failed')
  if (r.needsKey) codes.add('unauthorized')
  if (r.adminOnly) codes.add('forbidden')
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of codes) byStatus.set(ERROR_CODES[code].status, [...(byStatus.get(ERROR_CODES[code].status) ?? []), code])
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    responses[String(status)] ??= { description: list.map((c) => `\`${c}\``).join(', '), content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
  }
  const body = s.consumes
    ? { required: true, content: { [s.consumes]: { schema: { type: 'string', format: 'binary' } } } }
    : s.body instanceof z.ZodType ? { required: !s.body.safeParse(undefined).success, content: { 'application/json': { schema: json(s.body) } } } : undefined
  return {
    ...(s.summary ? { summary: s.summary } : {}),
    ...(s.description ? { description: s.description } : {}),
    security: r.needsKey ? [{ apiKey: [] }] : [],
    ...(r.adminOnly ? { 'x-admin-only': true } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(body ? { requestBody: body } : {}),
    responses,
  }
}

function params(schema: unknown, where: 'path' | 'query' | 'header'): object[] {
  if (!(schema instanceof z.ZodType)) return []
  const js = json(schema) as { properties?: Record<string, object>; required?: string[] }
  return Object.entries(js.properties ?? {}).map(([name, p]) => ({
    name, in: where, required: where === 'path' || (js.required ?? []).includes(name), schema: p,
    ...('description' in p ? { description: p.description } : {}),
  }))
}

function json(schema: z.ZodType): object {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  return rest
}
