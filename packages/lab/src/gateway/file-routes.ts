import type { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { toApiError } from './agent-errors.ts'
import type { ErrorCode } from './errors.ts'
import { deleteFilesQuery, dirSchema, filesQuery, writtenSchema } from './exec-schemas.ts'
import type { ExecRouteDeps } from './exec-routes.ts'
import { limitBytes } from './raw-body.ts'
import type { ZodTypeProvider } from './route-schema.ts'
import { sessionIdParams } from './schemas.ts'

const SESSION_ERRORS = ['session_not_found', 'session_ended', 'session_unavailable'] as const satisfies readonly ErrorCode[]
const PATH_ERRORS = ['file_not_found', 'permission_denied', 'path_conflict'] as const satisfies readonly ErrorCode[]

/**
 * Files in the session's sandbox, read and written by its agent as the session's user: the
 * gateway never opens a sandbox's files by host path, so a path reaches exactly what the user's
 * own shell can reach (`..`, absolute paths and symlinks resolve inside the sandbox).
 */
export function registerFileReadRoutes(scope: FastifyInstance, deps: ExecRouteDeps): void {
  const v1 = scope.withTypeProvider<ZodTypeProvider>()
  v1.get('/sessions/:id/files', {
    schema: {
      summary: "A file's bytes (application/octet-stream, streamed, with content-length), or a directory's entries", params: sessionIdParams, querystring: filesQuery,
      responses: { 200: { description: 'The file (application/octet-stream), or `{entries}` for a directory', schema: dirSchema } },
      errors: [...SESSION_ERRORS, ...PATH_ERRORS],
    },
  }, async (req, reply) => {
    const { id } = req.params
    const got = await (await deps.agent(id)).readPath(req.query.path).catch(async (err: unknown) => { throw await toApiError(err, () => deps.ended(id)) })
    if (got.kind === 'dir') return { entries: got.entries, ...(got.truncated ? { truncated: true } : {}) }
    // a client that goes away destroys the stream, which cancels the agent's read
    return reply.type('application/octet-stream').header('content-length', String(got.size)).send(got.data)
  })

  v1.delete('/sessions/:id/files', {
    schema: {
      summary: 'Remove a file, or a directory (non-empty ones with recursive=1)', params: sessionIdParams, querystring: deleteFilesQuery,
      responses: { 204: { description: 'Removed' } }, errors: [...SESSION_ERRORS, ...PATH_ERRORS],
    },
  }, async (req, reply) => {
    const { id } = req.params
    await (await deps.agent(id)).removePath(req.query.path, req.query.recursive).catch(async (err: unknown) => { throw await toApiError(err, () => deps.ended(id)) })
    return reply.code(204).send()
  })
}

/** The upload takes raw bytes: it is registered in the raw-body scope (raw-body.ts). */
export function registerFileWriteRoute(scope: FastifyInstance, deps: ExecRouteDeps): void {
  const v1 = scope.withTypeProvider<ZodTypeProvider>()
  v1.put('/sessions/:id/files', {
    schema: {
      summary: 'Write a file from the raw body: streamed to a temporary name beside it, then renamed; parents are created',
      params: sessionIdParams, querystring: filesQuery, consumes: 'application/octet-stream',
      responses: { 201: { description: 'Written', schema: writtenSchema } },
      errors: [...SESSION_ERRORS, ...PATH_ERRORS, 'unsupported_media_type', 'upload_too_large', 'insufficient_storage'],
    },
  }, async (req, reply) => {
    const { id } = req.params
    const body = limitBytes(req.body as Readable, deps.maxUploadBytes, req.headers['content-length'])
    const ops = await deps.agent(id)
    const written = await ops.writeFile(req.query.path, body, deps.maxUploadBytes).catch(async (err: unknown) => {
      throw body.exceeded ? body.tooLarge() : await toApiError(err, () => deps.ended(id))
    })
    return reply.code(201).send(written)
  })
}
