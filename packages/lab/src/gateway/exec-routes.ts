import type { FastifyInstance } from 'fastify'
import type { Readable } from 'node:stream'
import { z } from 'zod'
import type { AgentOps, ExecHandle, ExecSpec } from '../drivers/agent-ops.ts'
import { toApiError } from './agent-errors.ts'
import { ApiError, type ErrorCode } from './errors.ts'
import { collectOutput, type OutputEncoding } from './exec-output.ts'
import {
  backgroundSchema, encodingQuery, execBody, execHeaders, execResultSchema, keptOutputSchema, outputQuery,
  processIdParams, processSchema, signalBody, stdinQuery, stdinResultSchema, type ExecBody,
} from './exec-schemas.ts'
import type { IdempotencyCache, Outcome } from './idempotency.ts'
import { limitBytes } from './raw-body.ts'
import type { ZodTypeProvider } from './route-schema.ts'
import { requireJsonBody, sessionIdParams } from './schemas.ts'
import type { OpenStreams } from './shutdown.ts'
import { streamSse, wantsEventStream } from './sse.ts'

export interface ExecRouteDeps {
  /** The session's agent, once its claim is applied (sessions.ts `agent`). */
  agent(sessionId: string): Promise<AgentOps>
  /** True when the session has ended (a failed call then answers session_ended). */
  ended(sessionId: string): Promise<boolean>
  readonly idempotency: IdempotencyCache
  readonly maxUploadBytes: number
  readonly streams: OpenStreams
}

const SESSION_ERRORS = ['session_not_found', 'session_ended', 'session_unavailable'] as const satisfies readonly ErrorCode[]
const SSE_NOTE = 'With `Accept: text/event-stream`: events `stdout`/`stderr` (data: one JSON string per chunk), a comment every 15 s, then `exit`.'

/** Commands in the session's sandbox, as its user: foreground, streamed, or in the background. */
export function registerExecRoutes(scope: FastifyInstance, deps: ExecRouteDeps): void {
  const v1 = scope.withTypeProvider<ZodTypeProvider>()
  const fail = (id: string) => (err: unknown) => toApiError(err, () => deps.ended(id))

  v1.post('/sessions/:id/exec', {
    schema: {
      summary: 'Run a command in the session (foreground JSON, streamed as SSE, or in the background)', description: SSE_NOTE,
      params: sessionIdParams, querystring: encodingQuery, headers: execHeaders, body: execBody,
      responses: {
        200: { description: 'Foreground: the command exited (or timed out)', schema: execResultSchema },
        202: { description: 'Background: started', schema: backgroundSchema },
      },
      errors: [...SESSION_ERRORS, 'invalid_json', 'body_too_large', 'unsupported_media_type', 'idempotency_key_reused', 'exec_failed', 'too_many_processes'],
    },
    preValidation: async (req) => requireJsonBody(req),
  }, async (req, reply) => {
    const { id } = req.params
    const { encoding } = req.query
    const sse = wantsEventStream(req.headers.accept) && !req.body.background
    const key = req.headers['idempotency-key']
    if (sse && key !== undefined) {
      throw new ApiError('validation_failed', 'Idempotency-Key cannot be used with a streamed (text/event-stream) exec: its output is not kept', [{ field: 'idempotency-key', message: 'not with Accept: text/event-stream' }])
    }
    const ops = await deps.agent(id)
    if (sse) {
      const handle = await ops.exec(execSpec(req.body)).catch(async (err: unknown) => { throw await fail(id)(err) })
      return streamSse(reply, {
        output: handle.output!, encoding,
        finish: async () => ({ ...(await handle.exit), truncated: false }),
        toError: fail(id),
        onGone: () => void ops.signalProcess(handle.processId, 'SIGKILL').catch(() => undefined),
      }, deps.streams)
    }
    // Without a key, nobody can fetch the result of a call whose caller left: stop the command.
    // With one, it runs on, so the caller's retry gets its result.
    const callerGone = key === undefined ? new Promise<void>((resolve) => reply.raw.on('close', () => reply.raw.writableFinished || resolve())) : undefined
    const run = () => runExec(ops, req.body, encoding, callerGone).catch(async (err: unknown) => { throw await fail(id)(err) })
    const outcome = key === undefined ? await run() : await deps.idempotency.run(id, key, { body: req.body, encoding }, run)
    return reply.code(outcome.status).send(outcome.body)
  })

  v1.get('/sessions/:id/processes', {
    schema: {
      summary: 'Processes of the session: running ones, and ended ones (up to 100)', params: sessionIdParams,
      responses: { 200: { description: 'OK', schema: z.array(processSchema) } }, errors: SESSION_ERRORS,
    },
  }, async (req) => (await deps.agent(req.params.id)).listProcesses().catch(async (err: unknown) => { throw await fail(req.params.id)(err) }))

  v1.get('/sessions/:id/processes/:processId/output', {
    schema: {
      summary: "A process's kept output (1 MiB per process), as JSON, or as SSE with `follow=1` (then live until it exits)", description: SSE_NOTE,
      params: processIdParams, querystring: outputQuery,
      responses: { 200: { description: 'The kept output (JSON), or the event stream', schema: keptOutputSchema } },
      errors: [...SESSION_ERRORS, 'process_not_found'],
    },
  }, async (req, reply) => {
    const { id, processId } = req.params
    const { follow, encoding } = req.query
    // HEAD answers as the JSON form would: a stream whose body nobody reads must not follow a process
    const stream = req.method !== 'HEAD' && (follow || wantsEventStream(req.headers.accept))
    const ops = await deps.agent(id)
    const output = await ops.processOutput(processId, stream && follow).catch(async (err: unknown) => { throw await fail(id)(err) })
    if (!stream) {
      const kept = await collectOutput(output, encoding, Number.MAX_SAFE_INTEGER).catch(async (err: unknown) => { throw await fail(id)(err) })
      return { stdout: kept.stdout, stderr: kept.stderr }
    }
    return streamSse(reply, {
      output, encoding, toError: fail(id),
      finish: async () => {
        const p = (await ops.listProcesses()).find((x) => x.processId === processId)
        return p && !p.running ? { exitCode: p.exitCode, signal: p.signal } : undefined
      },
    }, deps.streams)
  })

  v1.post('/sessions/:id/processes/:processId/signal', {
    schema: {
      summary: 'Send a signal to a process', params: processIdParams, body: signalBody,
      responses: { 204: { description: 'Sent' } }, errors: [...SESSION_ERRORS, 'invalid_json', 'unsupported_media_type', 'process_not_found'],
    },
    preValidation: async (req) => requireJsonBody(req),
  }, async (req, reply) => {
    const { id, processId } = req.params
    await (await deps.agent(id)).signalProcess(processId, req.body.signal).catch(async (err: unknown) => { throw await fail(id)(err) })
    return reply.code(204).send()
  })
}

/** The stdin route takes raw bytes: it is registered in the raw-body scope (raw-body.ts). */
export function registerStdinRoute(scope: FastifyInstance, deps: ExecRouteDeps): void {
  const v1 = scope.withTypeProvider<ZodTypeProvider>()
  v1.post('/sessions/:id/processes/:processId/stdin', {
    schema: {
      summary: "Write the raw body to a process's stdin", params: processIdParams, querystring: stdinQuery, consumes: 'application/octet-stream',
      responses: { 200: { description: 'Written', schema: stdinResultSchema } },
      errors: [...SESSION_ERRORS, 'unsupported_media_type', 'upload_too_large', 'process_not_found'],
    },
  }, async (req) => {
    const { id, processId } = req.params
    const ops = await deps.agent(id)
    const body = limitBytes(req.body as Readable, deps.maxUploadBytes, req.headers['content-length'])
    return ops.writeStdin(processId, body, req.query.close).catch(async (err: unknown) => {
      throw body.exceeded ? body.tooLarge() : await toApiError(err, () => deps.ended(id))
    })
  })
}

function execSpec(b: ExecBody): ExecSpec {
  return {
    cmd: b.cmd, ...(b.cwd !== undefined ? { cwd: b.cwd } : {}), env: b.env ?? {},
    ...(b.stdin !== undefined ? { stdin: Buffer.from(b.stdin, 'utf8') } : {}),
    timeoutMs: Math.round(b.timeoutS * 1000), background: b.background, tty: b.tty,
  }
}

async function runExec(ops: AgentOps, body: ExecBody, encoding: OutputEncoding, callerGone: Promise<void> | undefined): Promise<Outcome> {
  const handle: ExecHandle = await ops.exec(execSpec(body))
  if (body.background) return { status: 202, body: { processId: handle.processId, pid: handle.pid } }
  let finished = false
  void callerGone?.then(async () => {
    if (!finished) await ops.signalProcess(handle.processId, 'SIGKILL').catch(() => undefined)
  })
  try {
    const [out, exit] = await Promise.all([collectOutput(handle.output!, encoding), handle.exit])
    const result: z.input<typeof execResultSchema> = { ...exit, truncated: out.truncated, stdout: out.stdout, stderr: out.stderr }
    return { status: 200, body: result }
  } finally {
    finished = true
  }
}
