import { PathConflictError } from './errors.generated.ts'
import { readJson, type Transport } from './http.ts'
import type { DirEntry, DirListing, WrittenFile } from './types.ts'
import { uploadBody, type UploadData } from './upload-body.ts'

interface Opts { readonly signal?: AbortSignal }

/**
 * A session's files, read and written inside its sandbox as its user. A path is absolute or
 * relative to the user's home.
 */
export class Files {
  constructor(private readonly t: Transport, private readonly base: string) {}

  /** A file's bytes, whole. `readStream` for large files. */
  async read(path: string, opts: Opts = {}): Promise<Uint8Array> {
    return new Uint8Array(await (await this.fileResponse(path, opts)).arrayBuffer())
  }

  async readText(path: string, opts: Opts = {}): Promise<string> {
    return new TextDecoder('utf-8').decode(await this.read(path, opts))
  }

  /** A file's bytes as they arrive; cancel the stream to stop the download. */
  async readStream(path: string, opts: Opts = {}): Promise<ReadableStream<Uint8Array>> {
    const res = await this.fileResponse(path, opts)
    return res.body ?? new Blob([]).stream()
  }

  /**
   * Writes a file (a temporary name, then renamed: a reader never sees half of it), creating its
   * parents. A ReadableStream is sent as it is read where the runtime can (Node).
   */
  async write(path: string, data: UploadData, opts: Opts = {}): Promise<WrittenFile> {
    return this.t.json('PUT', `${this.base}/files`, {
      query: { path },
      body: await uploadBody(data),
      headers: { 'content-type': 'application/octet-stream' },
      ...opts,
    })
  }

  /** A directory's entries. */
  async list(path: string, opts: Opts = {}): Promise<DirEntry[]> {
    const res = await this.get(path, opts)
    if (!isJson(res)) {
      await res.body?.cancel()
      throw new PathConflictError(`${path} is a file, not a directory: read it with files.read()`)
    }
    return (await readJson<DirListing>(res)).entries
  }

  /** Removes a file, or a directory (`recursive` when it is not empty). */
  async remove(path: string, opts: Opts & { readonly recursive?: boolean } = {}): Promise<void> {
    await this.t.json('DELETE', `${this.base}/files`, {
      query: { path, recursive: opts.recursive ? 1 : undefined },
      ...(opts.signal ? { signal: opts.signal } : {}),
    })
  }

  private async fileResponse(path: string, opts: Opts): Promise<Response> {
    const res = await this.get(path, opts)
    if (isJson(res)) {
      await res.body?.cancel()
      throw new PathConflictError(`${path} is a directory, not a file: list it with files.list()`)
    }
    return res
  }

  private get(path: string, opts: Opts): Promise<Response> {
    return this.t.send('GET', `${this.base}/files`, { query: { path }, ...opts })
  }
}

const isJson = (res: Response) => (res.headers.get('content-type') ?? '').startsWith('application/json')
