import { BadResponseError } from './errors.ts'
import { readJson, type Transport } from './http.ts'
import { readOutputStream, type OutputHandlers } from './output-stream.ts'
import type { ExecRequest, ExecResult, SpawnedProcess } from './types.ts'

export interface ExecOptions extends OutputHandlers {
  /** Absolute, or relative to the user's home (default). */
  readonly cwd?: string
  /** Added to the session's env and secrets; names follow the create rules. */
  readonly env?: Readonly<Record<string, string>>
  /** Written to the command's stdin, which is then closed (default: no input). */
  readonly stdin?: string | Uint8Array
  /** Default 60, at most 3600; on expiry everything the command started is killed. */
  readonly timeoutS?: number
  /** Run in a terminal (stdout carries the terminal's bytes). */
  readonly tty?: boolean
  /** Aborts the request (a streamed run stops streaming; the command runs on to its timeout). */
  readonly signal?: AbortSignal
  /** `base64`: stdout and stderr (and each streamed chunk) are base64, for output that is not UTF-8. */
  readonly encoding?: 'utf8' | 'base64'
  /** A retried call with the same key returns the first call's result instead of running again. */
  readonly idempotencyKey?: string
}

export type SpawnOptions = Omit<ExecOptions, 'onStdout' | 'onStderr' | 'encoding'>

const utf8 = new TextDecoder('utf-8', { fatal: true })

export function execBody(cmd: string | readonly string[], opts: SpawnOptions, background: boolean): ExecRequest {
  let stdin: string | undefined
  if (typeof opts.stdin === 'string') stdin = opts.stdin
  else if (opts.stdin !== undefined) {
    try {
      stdin = utf8.decode(opts.stdin)
    } catch {
      throw new TypeError('exec: stdin bytes must be UTF-8 (the exec body carries text); send other bytes with spawn() and processes.stdin()')
    }
  }
  return {
    cmd: typeof cmd === 'string' ? cmd : [...cmd],
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    ...(stdin !== undefined ? { stdin } : {}),
    ...(opts.timeoutS !== undefined ? { timeoutS: opts.timeoutS } : {}),
    ...(opts.tty !== undefined ? { tty: opts.tty } : {}),
    ...(background ? { background: true } : {}),
  }
}

/**
 * Runs a command to its end. With `onStdout` or `onStderr` the output streams (text/event-stream,
 * no cap on the gateway's side) and each handler gets its stream's chunks as they arrive; without,
 * one JSON answer carries both streams (at most 16 MiB each, then `truncated`).
 */
export async function runExec(t: Transport, base: string, cmd: string | readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const streaming = opts.onStdout !== undefined || opts.onStderr !== undefined
  const res = await t.send('POST', `${base}/exec`, {
    json: execBody(cmd, opts, false),
    query: { encoding: opts.encoding === 'base64' ? 'base64' : undefined },
    headers: {
      accept: streaming ? 'text/event-stream' : 'application/json',
      ...(opts.idempotencyKey !== undefined ? { 'idempotency-key': opts.idempotencyKey } : {}),
    },
    ...(opts.signal ? { signal: opts.signal } : {}),
  })
  if (!streaming) return readJson<ExecResult>(res)
  const out = await readOutputStream(res, opts)
  if (!out.exit) throw new BadResponseError("the command's output stream ended before its exit event (did the session end?)", { status: res.status })
  return { ...out.exit, stdout: out.stdout, stderr: out.stderr, truncated: out.exit.truncated || out.truncated }
}

/** Starts a command in the background: 202 with its process id (see `processes`). */
export function runSpawn(t: Transport, base: string, cmd: string | readonly string[], opts: SpawnOptions = {}): Promise<SpawnedProcess> {
  return t.json<SpawnedProcess>('POST', `${base}/exec`, {
    json: execBody(cmd, opts, true),
    ...(opts.idempotencyKey !== undefined ? { headers: { 'idempotency-key': opts.idempotencyKey } } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  })
}
