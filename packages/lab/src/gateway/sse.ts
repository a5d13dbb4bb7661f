import type { ServerResponse } from 'node:http'
import type { FastifyReply } from 'fastify'
import type { OutputChunk, OutputStream } from '../drivers/agent-ops.ts'
import { ApiError } from './errors.ts'
import { ChunkText, type OutputEncoding } from './exec-output.ts'
import type { OpenStreams } from './shutdown.ts'

/** A comment line this often keeps proxies from closing a quiet stream. */
export const SSE_HEARTBEAT_MS = 15_000

export function wantsEventStream(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept)
}

export interface SseRun {
  readonly output: OutputStream
  readonly encoding: OutputEncoding
  /** The `exit` event's data once the output has ended; undefined sends none. */
  finish(): Promise<object | undefined>
  /** How a failure reads in the final `error` event. */
  toError(err: unknown): Promise<Error>
  /** The client went away before the end (after the output stream was destroyed). */
  onGone?(): void
}

/**
 * Streams output as server-sent events: `stdout` / `stderr` events whose data is one JSON string
 * per chunk, then `exit` (or `error`, when the run failed after the headers went out). Flow
 * control runs end to end: the next chunk is read from the agent only once the client's socket
 * took the last one, so a slow client slows the sender, never the gateway's memory.
 */
export async function streamSse(reply: FastifyReply, run: SseRun, streams: OpenStreams): Promise<void> {
  const res = openEventStream(reply, streams)
  const text = new ChunkText(run.encoding)
  let gone = false
  const onClose = () => {
    if (res.writableFinished) return
    gone = true
    run.output.destroy()
    run.onGone?.()
  }
  res.on('close', onClose)
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), SSE_HEARTBEAT_MS)
  try {
    for await (const chunk of run.output as AsyncIterable<OutputChunk>) {
      if (!(await send(res, chunk.stream, text.write(chunk.stream, chunk.data)))) return
    }
    for (const s of ['stdout', 'stderr'] as const) if (!(await send(res, s, text.end(s)))) return
    const exit = await run.finish()
    if (exit && !gone) res.write(sseFrame('exit', JSON.stringify(exit)))
  } catch (err) {
    if (gone) return
    const e = await run.toError(err)
    if (!(e instanceof ApiError)) reply.log.error({ err: { message: e.message, stack: e.stack } }, 'event stream failed')
    const body = e instanceof ApiError ? e.toJSON().error : { code: 'internal', message: 'internal error; see the gateway log' }
    res.write(sseFrame('error', JSON.stringify(body)))
  } finally {
    clearInterval(heartbeat)
    res.off('close', onClose)
    if (!gone) res.end()
  }
}

/** Takes the request over and answers 200 text/event-stream; the gateway's shutdown ends it. */
export function openEventStream(reply: FastifyReply, streams: OpenStreams): ServerResponse {
  reply.hijack()
  const res = reply.raw
  streams.add(res)
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  })
  return res
}

/** One event; `data` is a single line (JSON), `id` what a client resumes after with Last-Event-ID. */
export function sseFrame(name: string, data: string, id?: number | string): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${name}\ndata: ${data}\n\n`
}

/** Writes one frame and waits until the socket takes it; false once the client is gone. */
export async function writeFrame(res: ServerResponse, frame: string): Promise<boolean> {
  if (res.destroyed) return false
  if (res.write(frame)) return true
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => () => {
      res.off('drain', onDrain)
      res.off('close', onClose)
      resolve(ok)
    }
    const onDrain = done(true)
    const onClose = done(false)
    res.once('drain', onDrain)
    res.once('close', onClose)
  })
}

async function send(res: ServerResponse, name: string, data: string): Promise<boolean> {
  if (data === '') return !res.destroyed
  return writeFrame(res, sseFrame(name, JSON.stringify(data)))
}
