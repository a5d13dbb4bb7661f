import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'

/**
 * A `fetch` that answers from the gateway's own routes through `inject`, in-process: the MCP
 * endpoint's tools call the API through the SDK with it, so they take the same route, checks and
 * key as any client without a loopback connection. Only the path and query of the URL are used.
 * Response bodies stream (a file is never buffered whole here), with the inject's backpressure;
 * cancelling the body, or aborting the request's signal, ends the inject. Request bodies are buffered: the MCP tools send at most a
 * few MiB.
 */
export function injectFetch(app: FastifyInstance): typeof fetch {
  return async (input, init) => {
    const req = new Request(input, init)
    const url = new URL(req.url)
    const payload = req.body ? Buffer.from(await req.arrayBuffer()) : undefined
    const res = await app.inject({
      method: req.method as 'GET',
      url: `${url.pathname}${url.search}`,
      headers: Object.fromEntries(req.headers),
      ...(payload ? { payload } : {}),
      payloadAsStream: true,
    })
    const headers = new Headers()
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, String(v))
    }
    const noBody = res.statusCode === 204 || res.statusCode === 304 || req.method === 'HEAD'
    const stream = res.stream()
    if (noBody) {
      stream.resume()
      return new Response(null, { status: res.statusCode, headers })
    }
    // A reader that stops early (a bounded read cancels the body) must end the route's work too:
    // closing the response the route writes to is what a client hanging up looks like to it.
    stream.once('close', () => {
      if (!stream.readableEnded) res.raw.res.destroy()
    })
    // A caller that gives up (an MCP client that hung up aborts its tool's signal) hangs up too.
    const abort = () => stream.destroy()
    if (req.signal.aborted) abort()
    else {
      req.signal.addEventListener('abort', abort, { once: true })
      stream.once('close', () => req.signal.removeEventListener('abort', abort))
    }
    return new Response(toWeb(stream), { status: res.statusCode, headers })
  }
}

/**
 * A web stream over a Node one, pulled a chunk at a time. (Node 20's `Readable.toWeb` enqueues
 * data still buffered after a cancel and throws from a stream event: an uncaught exception.)
 */
function toWeb(stream: Readable): ReadableStream<Uint8Array> {
  const chunks = stream[Symbol.asyncIterator]()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await chunks.next()
      if (done) controller.close()
      else controller.enqueue(value as Buffer)
    },
    // ends the iteration, which destroys the stream
    cancel: async () => void (await chunks.return?.()),
  })
}
