import { InfraLab } from '@infra-lab/sdk'
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { createLabMcpServer } from '../mcp/server.ts'
import { injectFetch } from './inject-fetch.ts'
import { requireRouteAuth, type KeyResolver } from './route-auth.ts'

/**
 * The largest /mcp request: a write_file of the most it takes (4 MiB as base64, 5.6 MiB) with
 * room for the JSON around it. Larger than the JSON routes' `maxBodyBytes` on purpose.
 */
export const MCP_MAX_BODY_BYTES = 8 * 1024 * 1024

/**
 * `POST /mcp`: the Model Context Protocol over Streamable HTTP, stateless (a fresh server and
 * transport per request, so no MCP session outlives its request or ties one caller to another).
 * The tools call the API in-process with the caller's own key, through the same routes and checks
 * as any client. GET (a server-to-client stream) and DELETE (ending an MCP session) have nothing
 * to serve without MCP sessions: they answer 405 as the transport specification allows.
 */
export async function registerMcpRoute(app: FastifyInstance, deps: { readonly keys: KeyResolver; readonly logger: Logger }): Promise<void> {
  const fetch = injectFetch(app)
  await app.register(async (scope) => {
    scope.addHook('onRequest', requireRouteAuth(deps.keys))

    scope.post('/mcp', {
      config: { auth: 'apiKey' },
      bodyLimit: MCP_MAX_BODY_BYTES,
      schema: {
        summary: 'Model Context Protocol (Streamable HTTP, stateless): tools create_session, exec, read_file, write_file, list_files, end_session',
        description: 'A JSON-RPC message of MCP (docs/mcp.md). Send `Accept: application/json, text/event-stream`. Tool failures are results with `isError`, not HTTP errors.',
        responses: {
          200: { description: 'The JSON-RPC response, as one server-sent event', media: 'text/event-stream' },
          202: { description: 'A notification or response was accepted' },
        },
        errors: ['invalid_json', 'body_too_large', 'unsupported_media_type'],
      },
    }, async (req, reply) => {
      const server = createLabMcpServer({ lab: new InfraLab({ url: 'http://gateway.internal', apiKey: callerKey(req), fetch }) })
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined })
      transport.onerror = (err) => deps.logger.debug({ err: { message: err.message } }, 'mcp transport')
      reply.raw.once('close', () => {
        void transport.close()
        void server.close()
      })
      await server.connect(transport)
      return reply.send(await transport.handleRequest(webRequest(req), { parsedBody: req.body }))
    })

    const notAllowed = async (_req: FastifyRequest, reply: FastifyReply) => reply.code(405).header('allow', 'POST').send({
      jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Method not allowed: this server is stateless; send every request as a POST' },
    })
    const stateless = { summary: 'Not served: the MCP endpoint is stateless (405)', responses: { 405: { description: 'Method not allowed' } } }
    scope.get('/mcp', { config: { auth: 'apiKey' }, schema: stateless }, notAllowed)
    scope.delete('/mcp', { config: { auth: 'apiKey' }, schema: stateless }, notAllowed)
  })
}

/** The headers and method the transport reads (the body is already parsed). */
function webRequest(req: FastifyRequest): Request {
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v)
  }
  return new Request('http://gateway.internal/mcp', { method: req.method, headers })
}

/** The key the caller sent (the auth hook has checked it): the tools' calls carry it on. */
function callerKey(req: FastifyRequest): string {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? ''
}
