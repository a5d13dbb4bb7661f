import { BadResponseError } from './errors.ts'
import { errorFromBody } from './http.ts'
import { readSse } from './sse.ts'
import type { ExecExit } from './types.ts'

export interface OutputHandlers {
  /**
   * Each stdout chunk as it arrives (UTF-8 text, or base64 with `encoding: 'base64'`). A promise
   * it returns is awaited before the next chunk is read, so a slow consumer slows the stream.
   */
  onStdout?(chunk: string): void | Promise<void>
  onStderr?(chunk: string): void | Promise<void>
}

export interface StreamedOutput<Exit = ExecExit> {
  /** A stream without a handler is kept here (at most `maxKeptChars`); one with a handler stays ''. */
  readonly stdout: string
  readonly stderr: string
  /** Some output of a stream without a handler was dropped past `maxKeptChars`. */
  readonly truncated: boolean
  /** The `exit` event, or undefined when the stream ended without one (a process still running). */
  readonly exit: Exit | undefined
}

/** What the SDK keeps of a streamed output that has no handler: as much as the gateway keeps of a JSON answer. */
export const MAX_KEPT_CHARS = 16 * 1024 * 1024

/**
 * Reads an output stream (text/event-stream): `stdout` and `stderr` events whose data is one
 * JSON string each, comments as keep-alives, an `exit` event at the end, and an `error` event
 * (the API's error body) when the gateway gives up on the stream.
 */
export async function readOutputStream<Exit = ExecExit>(res: Response, handlers: OutputHandlers, maxKeptChars = MAX_KEPT_CHARS): Promise<StreamedOutput<Exit>> {
  if (!res.body) throw new BadResponseError('the gateway answered an output stream without a body', { status: res.status })
  const kept = { stdout: '', stderr: '' }
  let truncated = false
  let exit: Exit | undefined
  await readSse(res.body, async (e) => {
    if (e.event === 'stdout' || e.event === 'stderr') {
      const chunk = parse(e.data, e.event)
      if (typeof chunk !== 'string') throw new BadResponseError(`a ${e.event} event whose data is not a JSON string`)
      const handler = e.event === 'stdout' ? handlers.onStdout : handlers.onStderr
      if (handler) await handler(chunk)
      else if (kept[e.event].length + chunk.length <= maxKeptChars) kept[e.event] += chunk
      else {
        kept[e.event] += chunk.slice(0, Math.max(0, maxKeptChars - kept[e.event].length))
        truncated = true
      }
    } else if (e.event === 'exit') {
      exit = parse(e.data, 'exit') as Exit
    } else if (e.event === 'error') {
      // data: the error body's inner object, {"code", "message", "details"?}
      throw errorFromBody({ error: parse(e.data, 'error') }, 0) ?? new BadResponseError(`the stream failed: ${e.data.slice(0, 200)}`)
    }
  })
  return { ...kept, truncated, exit }
}

function parse(data: string, event: string): unknown {
  try {
    return JSON.parse(data)
  } catch {
    throw new BadResponseError(`a ${event} event whose data is not JSON: ${data.slice(0, 200)}`)
  }
}
