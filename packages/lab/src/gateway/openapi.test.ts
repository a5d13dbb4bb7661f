import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { OpenApiDocument } from './openapi.ts'
import { jsonSerializerCompiler, zodValidatorCompiler } from './route-schema.ts'

describe('OpenAPI generated from the registered routes', () => {
  it('refuses to register a /v1 route that has no schema summary, so no keyed route goes undocumented', async () => {
    const app = Fastify()
    new OpenApiDocument().collect(app)
    await app.register(async (v1) => {
      expect(() => v1.get('/hidden', async () => 'x')).toThrow(/GET \/v1\/hidden has no schema.summary/)
    }, { prefix: '/v1' })
    await app.close()
  })

  it('documents parameters, bodies, responses, errors and security from the route itself', async () => {
    const app = Fastify()
    app.setValidatorCompiler(zodValidatorCompiler)
    app.setSerializerCompiler(jsonSerializerCompiler)
    const doc = new OpenApiDocument()
    doc.collect(app)
    await app.register(async (v1) => {
      v1.post('/things/:id', {
        schema: {
          summary: 'Make a thing', params: z.object({ id: z.string() }), querystring: z.object({ n: z.string().optional() }),
          body: z.object({ name: z.string() }), responses: { 201: { description: 'Made', schema: z.object({ ok: z.boolean() }) } }, errors: ['session_ended'],
        },
      }, async () => ({ ok: true }))
      v1.get('/open', { config: { auth: 'attachToken' }, schema: { summary: 'Open' } }, async () => 'x')
    }, { prefix: '/v1' })
    await app.ready()
    const op = (doc.document() as { paths: Record<string, Record<string, Record<string, unknown>>> }).paths
    const post = op['/v1/things/{id}']!.post!
    expect(post.security).toEqual([{ apiKey: [] }])
    expect(post.parameters).toEqual([
      { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
      { name: 'n', in: 'query', required: false, schema: { type: 'string' } },
    ])
    expect(Object.keys(post.responses as object)).toEqual(['201', '400', '401', '409'])
    expect((post.responses as Record<string, { description: string }>)['409']!.description).toBe('`session_ended`')
    expect(op['/v1/open']!.get!.security).toEqual([])
    // and the same schema validates: a bad body is the API's validation error
    const res = await app.inject({ method: 'POST', url: '/v1/things/a', payload: { name: 1 } })
    expect(res.statusCode).toBe(400)
    expect(JSON.parse(res.body)).toMatchObject({ code: 'validation_failed' })
    await app.close()
  })
})
