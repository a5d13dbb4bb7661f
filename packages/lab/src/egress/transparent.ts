/**
 * The transparent port: a sandbox's TCP to ports 80/443 is redirected here by the host's
 * nftables, whatever the program thought of proxy variables. The original destination comes from
 * `originalDst` (SO_ORIGINAL_DST); the name from the first bytes (SNI, or the Host header), read
 * without answering and then replayed upstream.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { Session } from './session.ts'
import { SNIFF_LIMIT_BYTES, sniffHttpHost, sniffTlsServerName, type Sniffed } from './sni.ts'
import { runTunnel, type TunnelDeps } from './tunnel.ts'

export interface OriginalDst {
  readonly address: string
  readonly port: number
}

export type OriginalDstFn = (socket: Socket) => OriginalDst | undefined

/** Reads from `socket` until the sniffer decides, the limit is reached, or the head timeout passes. */
function sniff(socket: Socket, timeoutMs: number): Promise<{ bytes: Buffer; result: Sniffed } | undefined> {
  return new Promise((resolve) => {
    let bytes = Buffer.alloc(0)
    const done = (value: { bytes: Buffer; result: Sniffed } | undefined): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.pause()
      resolve(value)
    }
    const onData = (chunk: Buffer): void => {
      bytes = Buffer.concat([bytes, chunk]).subarray(0, SNIFF_LIMIT_BYTES + 1)
      const result = bytes[0] === 0x16 ? sniffTlsServerName(bytes) : sniffHttpHost(bytes)
      if (result.status !== 'incomplete') done({ bytes, result })
    }
    const onEnd = (): void => done(bytes.length > 0 ? { bytes, result: { status: 'invalid' } } : undefined)
    const timer = setTimeout(() => done(undefined), timeoutMs)
    socket.on('data', onData)
    socket.once('end', onEnd)
  })
}

export function createTransparentProxy(deps: TunnelDeps, sessionFor: (source: string) => Session | undefined, originalDst: OriginalDstFn | undefined): Server {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy())
    const session = sessionFor(socket.remoteAddress ?? '')
    const dst = session ? originalDst?.(socket) : undefined
    if (!session || !dst) {
      if (session) deps.logger.warn('egress: transparent connection without an original destination')
      socket.destroy()
      return
    }
    void (async () => {
      const head = await sniff(socket, deps.headTimeoutMs)
      if (!head || socket.destroyed) {
        socket.destroy()
        return
      }
      // No name (raw TCP, TLS without SNI, an IP in Host): the original address is judged alone.
      // Later requests on a kept-alive connection go to the same checked address whatever
      // Host they carry: the address, not the header, is what the policy let through.
      const name = head.result.status === 'complete' ? head.result.name : undefined
      const target = name !== undefined ? { name, port: dst.port, via: 'transparent' as const } : { address: dst.address, port: dst.port, via: 'transparent' as const }
      const close = (): void => {
        socket.destroy()
      }
      await runTunnel(deps, session, socket, target, head.bytes, { established: () => undefined, denied: close, failed: close })
    })().catch((err: Error) => {
      deps.logger.warn({ err: err.message }, 'egress: transparent connection failed')
      socket.destroy()
    })
  })
  return server
}
