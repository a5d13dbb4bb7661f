import { z } from 'zod'
import { attachSchema, createSessionBody, createdSessionSchema, errorSchema, poolSchema, sessionSchema } from './schemas.ts'

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' })
const content = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } })
const err = (description: string) => ({ description, content: content('Error') })
const bearer = [{ apiKey: [] }]
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } }

let cached: object | undefined

/** OpenAPI 3.1 description of the API, built from the same zod schemas that validate it. */
export function buildOpenApi(): object {
  cached ??= {
    openapi: '3.1.0',
    info: { title: 'Optima Infra Lab gateway', version: '1', description: 'Warm-pool session gateway: see docs/api.md.' },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      schemas: {
        CreateSession: json(createSessionBody),
        Session: json(sessionSchema),
        CreatedSession: json(createdSessionSchema),
        Attach: json(attachSchema),
        Pool: json(poolSchema),
        Error: json(errorSchema),
      },
    },
    paths: {
      '/v1/sessions': {
        post: {
          summary: 'Create a session (claims a warm sandbox, or cold-starts one)', security: bearer,
          requestBody: { required: true, content: content('CreateSession') },
          responses: { 201: { description: 'Created', content: content('CreatedSession') }, 400: err('Invalid body'), 401: err('Bad key'), 404: err('No such pool'), 503: err('No capacity; see Retry-After') },
        },
        get: {
          summary: 'List sessions', security: bearer,
          parameters: ['user', 'state', 'pool'].map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } })),
          responses: { 200: { description: 'OK', content: { 'application/json': { schema: { type: 'object', properties: { sessions: { type: 'array', items: { $ref: '#/components/schemas/Session' } } } } } } }, 401: err('Bad key') },
        },
      },
      '/v1/sessions/{id}': {
        get: { summary: 'Get a session', security: bearer, parameters: [idParam], responses: { 200: { description: 'OK', content: content('Session') }, 404: err('Unknown session') } },
        delete: { summary: 'End a session (204 also when already ended)', security: bearer, parameters: [idParam], responses: { 204: { description: 'Ended' }, 404: err('Unknown session') } },
      },
      '/v1/sessions/{id}/attach': {
        post: { summary: 'Issue a fresh attach token', security: bearer, parameters: [idParam], responses: { 200: { description: 'OK', content: content('Attach') }, 404: err('Unknown session'), 409: err('Session ended') } },
      },
      '/v1/sessions/{id}/terminal': {
        get: {
          summary: 'WebSocket terminal: binary frames = terminal bytes, text frames = JSON control',
          parameters: [idParam, { name: 'token', in: 'query', required: true, schema: { type: 'string' } }],
          responses: { 101: { description: 'Switching protocols' }, 401: err('Bad or expired attach token') },
        },
      },
      '/v1/pools': { get: { summary: 'List pools with status', security: bearer, responses: { 200: { description: 'OK' } } } },
      '/v1/pools/{name}': { get: { summary: 'One pool with status', security: bearer, parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'OK', content: content('Pool') }, 404: err('No such pool') } } },
      '/v1/stats': { get: { summary: 'Pool history, claim latency histograms, warm hit rate, failures and active sessions (for the dashboard)', security: bearer, responses: { 200: { description: 'OK' }, 401: err('Bad key') } } },
      '/healthz': { get: { summary: 'Liveness (no key)', responses: { 200: { description: 'OK' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics (no key)', responses: { 200: { description: 'OK' } } } },
    },
  }
  return cached
}
