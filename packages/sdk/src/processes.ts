import type { ExecSignal, ProcessInfo } from './exec-types.ts'
import type { Transport } from './http.ts'
import { readOutputStream, type OutputHandlers, type StreamedOutput } from './output-stream.ts'
import { uploadBody, type UploadData } from './upload-body.ts'

export interface OutputOptions extends OutputHandlers {
  /** Stream on until the process ends (default: what was kept so far, then return). */
  readonly follow?: boolean
  readonly encoding?: 'utf8' | 'base64'
  readonly signal?: AbortSignal
}

/** A session's processes: those started with `spawn`, and foreground ones recently ended. */
export class Processes {
  constructor(private readonly t: Transport, private readonly base: string) {}

  /** Running ones and ended ones (the last 100). */
  async list(opts: { signal?: AbortSignal } = {}): Promise<ProcessInfo[]> {
    const r = await this.t.json<ProcessInfo[] | { processes: ProcessInfo[] }>('GET', `${this.base}/processes`, opts)
    return Array.isArray(r) ? r : r.processes
  }

  /**
   * A process's output: what the gateway kept (1 MiB per process) replayed first, then, with
   * `follow`, the rest as it comes. `exit` is set once the process has ended.
   */
  async output(processId: string, opts: OutputOptions = {}): Promise<StreamedOutput> {
    const res = await this.t.send('GET', `${this.path(processId)}/output`, {
      query: { follow: opts.follow ? 1 : undefined, encoding: opts.encoding === 'base64' ? 'base64' : undefined },
      headers: { accept: 'text/event-stream' },
      ...(opts.signal ? { signal: opts.signal } : {}),
    })
    return readOutputStream(res, opts)
  }

  /** Writes to the process's stdin (raw bytes; a stream is sent as it is read where the runtime can). */
  async stdin(processId: string, data: UploadData, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.t.json<unknown>('POST', `${this.path(processId)}/stdin`, {
      body: await uploadBody(data),
      headers: { 'content-type': 'application/octet-stream' },
      ...opts,
    })
  }

  async signal(processId: string, signal: ExecSignal, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.t.json<unknown>('POST', `${this.path(processId)}/signal`, { json: { signal }, ...opts })
  }

  private path(processId: string): string {
    return `${this.base}/processes/${encodeURIComponent(processId)}`
  }
}
