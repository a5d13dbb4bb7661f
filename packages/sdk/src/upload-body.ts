import type { RequestBody } from './http.ts'

export type UploadData = string | Uint8Array | Blob | ReadableStream<Uint8Array>

interface MaybeNode { process?: { versions?: { node?: string } } }

/**
 * Whether fetch here can send a ReadableStream body: Node (and runtimes that copy its API) can,
 * with `duplex: 'half'`; browsers send one only over HTTP/2 or later, which a gateway on HTTP/1.1
 * is not, so there a stream is collected into a Blob (which a browser may keep on disk) first.
 */
export const streamsUploads = typeof (globalThis as MaybeNode).process?.versions?.node === 'string'

/** A request body for raw bytes: strings as UTF-8, streams as they are read where the runtime can. */
export async function uploadBody(data: UploadData): Promise<RequestBody> {
  if (typeof data === 'string') return new TextEncoder().encode(data)
  if (data instanceof ReadableStream) return streamsUploads ? data : await new Response(data).blob()
  return data as RequestBody
}
