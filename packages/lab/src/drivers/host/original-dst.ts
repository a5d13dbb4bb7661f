import type { Socket } from 'node:net'
import { loadMountAddon } from './mounts.ts'

/** Where a connection was headed before the host's nftables rules redirected it. */
export interface OriginalDst {
  /** IPv4 dotted quad (also for an IPv4 peer on a dual-stack listener), or IPv6 text. */
  readonly address: string
  readonly port: number
}

/** The part of a net.Socket's libuv handle that carries its descriptor (POSIX only). */
interface HandleWithFd {
  readonly fd?: number
}

/**
 * The destination a sandbox's TCP connection had before the egress rules DNATed it to the
 * transparent proxy port (conntrack's SO_ORIGINAL_DST; IP6T_SO_ORIGINAL_DST for IPv6).
 * Undefined when conntrack does not track the connection (nothing redirected it, or no
 * conntrack on this host). A connection that was not rewritten answers its own local address.
 *
 * Linux only: the addon loads nowhere else. Safe to call on a live socket: it reads the
 * descriptor's own address and asks the kernel one read-only getsockopt, synchronously, so the
 * descriptor libuv owns cannot be closed (or its number reused) in between; it is never
 * duplicated, closed or switched to another mode.
 */
export function originalDstOf(socket: Socket): OriginalDst | undefined {
  const handle = (socket as unknown as { _handle?: HandleWithFd | null })._handle
  const fd = handle?.fd
  if (socket.destroyed || typeof fd !== 'number' || fd < 0) throw new Error('originalDstOf: the socket is closed or has no descriptor')
  return loadMountAddon().originalDst(fd)
}
