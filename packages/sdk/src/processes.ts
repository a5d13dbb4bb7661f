import type { Transport } from './http.ts'
import { readOutputStream, type OutputHandlers, type StreamedOutput } from './output-stream.ts'
import type { ExecExit, ExecSignal, ProcessInfo, StdinResult } from './types.ts'
import { uploadBody, type UploadData } from './upload-body.ts'

export interface OutputOptions extends OutputHandlers {
  /** Stream on until the process ends (default: what was kept so far, then return). */
  readonly follow?: boolean
  readonly encoding?: 'utf8' | 'base64'
  readonly signal?: AbortSignal
}

/** How a background process ended, as its output stream's `exit` event says. */
export type ProcessExit = Pick<ExecExit, 'exitCode' | 'signal'>

/** A session's processes: those started with `spawn`, and foreground ones recently ended. */
export class Processes {
  constructor(private readonly t: Transport, private readonly base: string) {}

  /** Running ones and ended ones (the last 100). */
  list(opts: { signal?: AbortSignal } = {}): Promise<ProcessInfo[]> {
    return this.t.json<ProcessInfo[]>('GET', `${this.base}/processes`, opts)
  }

  /**
   * A process's output: what the gateway kept (1 MiB per process) replayed first, then, with
   * `follow`, the rest as it comes until the process ends. `exit` is set once it has ended.
   */
  async output(processId: string, opts: OutputOptions = {}): Promise<StreamedOutput<ProcessExit>> {
    const res = await this.t.send('GET', `${this.path(processId)}/output`, {
      query: { follow: opts.follow ? 1 : undefined, encoding: opts.encoding === 'base64' ? 'base64' : undefined },
      headers: { accept: 'text/event-stream' },
      ...(opts.signal ? { signal: opts.signal } : {}),
    })
    return readOutputStream<ProcessExit>(res, opts)
  }

  /**
   * Writes raw bytes to the process's stdin (a stream is sent as it is read where the runtime
   * can); `close` closes its stdin after them.
   */
  stdin(processId: string, data: UploadData, opts: { close?: boolean; signal?: AbortSignal } = {}): Promise<StdinResult> {
    return uploadBody(data).then((body) => this.t.json<StdinResult>('POST', `${this.path(processId)}/stdin`, {
      body,
      query: { close: opts.close ? 1 : undefined },
      headers: { 'content-type': 'application/octet-stream' },
      ...(opts.signal ? { signal: opts.signal } : {}),
    }))
  }

  async signal(processId: string, signal: ExecSignal, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.t.json<void>('POST', `${this.path(processId)}/signal`, { json: { signal }, ...opts })
  }

  private path(processId: string): string {
    return `${this.base}/processes/${encodeURIComponent(processId)}`
  }
}
