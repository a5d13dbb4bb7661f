import type { Socket } from 'node:net'
import type { ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'

/** The event streams being served (sse.ts registers each). */
export class OpenStreams {
  private readonly open = new Set<ServerResponse>()
  add(res: ServerResponse): void {
    this.open.add(res)
    res.once('close', () => this.open.delete(res))
  }

  closeAll(): void {
    for (const res of this.open) res.destroy()
  }
}

/**
 * What the HTTP server's close would otherwise wait for, ended when the gateway closes: event
 * streams (one whose client stopped reading never finishes by itself), connections that have not
 * sent a request yet (Node closes idle keep-alive connections, but counts a fresh one as busy
 * until its headers time out, a minute later), and the connections of requests still in
 * progress: their answers go out with `connection: close` (Node closes idle connections only
 * when the close begins; one that turns idle later would wait out the 72 s keep-alive).
 */
export function closeLingeringOnShutdown(app: FastifyInstance): OpenStreams {
  const streams = new OpenStreams()
  const fresh = new Set<Socket>()
  app.server.on('connection', (socket: Socket) => {
    fresh.add(socket)
    socket.once('close', () => fresh.delete(socket))
  })
  app.server.on('request', (req: { socket: Socket }) => fresh.delete(req.socket))
  let closing = false
  app.addHook('onSend', async (_req, reply, payload) => {
    if (closing) void reply.header('connection', 'close')
    return payload
  })
  app.addHook('preClose', async () => {
    closing = true
    streams.closeAll()
    for (const socket of fresh) socket.destroy()
  })
  return streams
}
