import { request } from 'node:http'

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'
/** Engine API version: 1.41 is Docker 20.10 (Debian 12's docker.io); newer engines accept it. */
const API = '/v1.41'

export interface EngineResponse {
  readonly status: number
  readonly body: Buffer
}

/** The daemon did not answer at all (socket missing, refused, or reset): nothing to retry at once. */
export class EngineUnreachable extends Error {
  override readonly name = 'EngineUnreachable'
}

/** The daemon answered with an error status. */
export class EngineError extends Error {
  override readonly name = 'EngineError'
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

/**
 * The few Docker Engine API calls the driver needs, as plain HTTP on the daemon's unix socket
 * (no client library: the API is small and stable).
 */
export class DockerEngine {
  constructor(readonly socketPath = DEFAULT_DOCKER_SOCKET, private readonly timeoutMs = 30_000) {}

  /** One request; resolves with any status (callers decide which are errors). */
  call(method: string, path: string, body?: unknown, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<EngineResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.socketPath, method, path: API + path,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        timeout: opts.timeoutMs ?? this.timeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
        res.on('error', (err) => reject(unreachable(this.socketPath, err)))
      })
      req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? this.timeoutMs} ms`)))
      req.on('error', (err) => reject(err.name === 'AbortError' ? err : unreachable(this.socketPath, err)))
      req.end(payload)
    })
  }

  /** Like call, but a status outside `ok` throws an EngineError with the daemon's message; parses JSON bodies. */
  async json<T>(method: string, path: string, body?: unknown, ok: readonly number[] = [200, 201, 204]): Promise<T | undefined> {
    const res = await this.call(method, path, body)
    if (!ok.includes(res.status)) throw new EngineError(res.status, `${method} ${path}: ${res.status} ${engineMessage(res.body)}`)
    return res.body.length > 0 ? (JSON.parse(res.body.toString('utf8')) as T) : undefined
  }

  async ping(): Promise<void> {
    const res = await this.call('GET', '/_ping', undefined, { timeoutMs: 5_000 })
    if (res.status !== 200) throw new EngineError(res.status, `docker daemon at ${this.socketPath} answered ${res.status} to a ping`)
  }

  /** The last bytes a container wrote to stdout and stderr (demultiplexed). */
  async logTail(container: string, lines = 20): Promise<string> {
    const res = await this.call('GET', `/containers/${encodeURIComponent(container)}/logs?stdout=1&stderr=1&tail=${lines}`)
    if (res.status !== 200) return '(no log)'
    return demuxLogs(res.body)
  }
}

function unreachable(socketPath: string, err: Error): EngineUnreachable {
  const code = (err as NodeJS.ErrnoException).code
  return new EngineUnreachable(`no Docker daemon answers at ${socketPath} (${code ?? err.message})`, { cause: err })
}

function engineMessage(body: Buffer): string {
  try {
    return (JSON.parse(body.toString('utf8')) as { message?: string }).message ?? body.toString('utf8')
  } catch {
    return body.toString('utf8').slice(0, 500)
  }
}

/** Docker's log stream without a TTY: frames of [stream, 0, 0, 0, size (u32 BE)] + payload. Pure. */
export function demuxLogs(buf: Buffer): string {
  const parts: Buffer[] = []
  let off = 0
  while (off + 8 <= buf.length) {
    const size = buf.readUInt32BE(off + 4)
    parts.push(buf.subarray(off + 8, off + 8 + size))
    off += 8 + size
  }
  return Buffer.concat(parts).toString('utf8')
}
