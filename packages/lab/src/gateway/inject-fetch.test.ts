import { Readable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { injectFetch } from './inject-fetch.ts'
import { waitFor } from './test-gateway.test-util.ts'

describe('a fetch answered by the gateway\'s own routes (inject)', () => {
  let app: FastifyInstance
  afterEach(async () => {
    await app?.close()
  })

  it('carries method, path, query, headers and body in, and status, headers and body out', async () => {
    app = Fastify()
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
    app.put('/echo/:name', async (req, reply) => reply.code(201).header('x-seen', `${(req.params as { name: string }).name} ${(req.query as { q: string }).q} ${req.headers.authorization}`)
      .type('application/octet-stream').send(Buffer.concat([Buffer.from('got:'), req.body as Buffer])))
    app.delete('/gone', async (_req, reply) => reply.code(204).send())
    const f = injectFetch(app)
    const res = await f('http://ignored.invalid/echo/a%20b?q=1%262', { method: 'PUT', headers: { authorization: 'Bearer k', 'content-type': 'application/octet-stream' }, body: new Uint8Array([0, 255, 1]) })
    expect(res.status).toBe(201)
    expect(res.headers.get('x-seen')).toBe('a b 1&2 Bearer k')
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.concat([Buffer.from('got:'), Buffer.from([0, 255, 1])]))
    const gone = await f('http://ignored.invalid/gone', { method: 'DELETE' })
    expect(gone.status).toBe(204)
    expect(gone.body).toBeNull()
  })

  it('streams a body, and a reader that cancels it ends the route\'s stream (nothing left paused)', async () => {
    app = Fastify()
    let produced = 0
    let sourceClosed = false
    app.get('/endless', async (_req, reply) => {
      const source = new Readable({
        read() {
          produced += 64 * 1024
          this.push(Buffer.alloc(64 * 1024, 0x61))
        },
      })
      source.once('close', () => (sourceClosed = true))
      return reply.type('application/octet-stream').send(source)
    })
    const res = await injectFetch(app)('http://ignored.invalid/endless')
    const reader = res.body!.getReader()
    let got = 0
    while (got < 1024 * 1024) got += (await reader.read()).value!.length
    await reader.cancel()
    await waitFor(() => sourceClosed, 5000, 'the route\'s source stream to close')
    // backpressure held: the route did not run ahead of the reader by more than a few buffers
    expect(produced).toBeLessThan(got + 8 * 1024 * 1024)
  })

  it('a request whose signal aborts after the answer began ends the route\'s stream, as a client hanging up would', async () => {
    app = Fastify()
    let sourceClosed = false
    app.get('/endless', async (_req, reply) => {
      const source = new Readable({ read() { this.push(Buffer.alloc(64 * 1024, 0x62)) } })
      source.once('close', () => (sourceClosed = true))
      return reply.type('application/octet-stream').send(source)
    })
    const ac = new AbortController()
    const res = await injectFetch(app)('http://ignored.invalid/endless', { signal: ac.signal })
    const reader = res.body!.getReader()
    expect((await reader.read()).value!.length).toBeGreaterThan(0)
    ac.abort()
    await waitFor(() => sourceClosed, 5000, 'the route\'s source stream to close')
    await expect(reader.read()).rejects.toThrow()
  })
})
