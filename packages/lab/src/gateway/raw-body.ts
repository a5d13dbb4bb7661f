import { Transform, type Readable, type TransformCallback } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { formatSizeBytes } from '../config/size.ts'
import { ApiError } from './errors.ts'

export const RAW_BODY_TYPE = 'application/octet-stream'

/**
 * A scope whose routes take their body as raw bytes (`application/octet-stream`), handed to the
 * handler as the request stream itself: never parsed, never buffered whole, so an upload is only
 * ever as big in the gateway as the flow control to the agent allows. Any other content type is
 * `415`; the rest of the API stays JSON-only.
 */
export async function registerRawBodyScope(parent: FastifyInstance, routes: (scope: FastifyInstance) => void): Promise<void> {
  await parent.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser(RAW_BODY_TYPE, (_req, payload, done) => done(null, payload))
    scope.addHook('preValidation', async (req) => {
      // no content type at all: nothing was parsed, and no stream reached the handler
      if (req.body === undefined) throw new ApiError('unsupported_media_type', `send the body as ${RAW_BODY_TYPE}`)
    })
    routes(scope)
  })
}

/** A byte counter in front of a raw body: past `maxBytes` it fails, and the upload with it. */
export class ByteLimit extends Transform {
  exceeded = false
  bytes = 0
  constructor(private readonly maxBytes: number) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.maxBytes) {
      this.exceeded = true
      return done(this.tooLarge())
    }
    done(null, chunk)
  }

  tooLarge(): ApiError {
    return new ApiError('upload_too_large', `the upload is larger than the gateway accepts (${formatSizeBytes(this.maxBytes)}, --max-upload-bytes)`)
  }
}

/**
 * The body, limited to `maxBytes`. A declared `content-length` beyond it is refused before
 * anything is read; a body that grows past it while streaming fails then. Either way the client
 * is not read any further, and the 413 closes the connection (errors.ts: upload_too_large), so
 * the rest of the upload is never taken in.
 */
export function limitBytes(body: Readable, maxBytes: number, declaredLength?: string): ByteLimit {
  const limit = new ByteLimit(maxBytes)
  if (declaredLength !== undefined && Number(declaredLength) > maxBytes) {
    limit.exceeded = true
    throw limit.tooLarge()
  }
  body.on('error', (err) => limit.destroy(err))
  limit.on('error', () => {
    body.unpipe(limit)
    body.pause()
  })
  return body.pipe(limit)
}
