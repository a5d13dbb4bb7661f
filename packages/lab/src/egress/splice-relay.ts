/**
 * The zero-copy relay for pass-through tunnels (native/splice_relay.c): two TCP connections
 * joined by splice(2) through a pipe per direction, on the addon's native threads, so the bytes
 * never pass through JavaScript. Linux only; everywhere else (or without the addon) the callers
 * keep the JS relay in throttle.ts.
 *
 * The addon is loaded here rather than through drivers/host: the egress proxy imports no driver
 * (the gateway composes them), and a missing addon only means the slower relay.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Server, Socket } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The opaque native handle of one relay. */
type NativeHandle = object & { readonly __spliceRelay?: never }

interface NativeStats {
  aToB: number
  bToA: number
  open: boolean
  error?: string
}

/** The part of the host addon this module uses. */
interface SpliceAddon {
  /** Dups both descriptors and relays them; null when the cap on concurrent relays is reached or a descriptor could not be made. */
  spliceRelayStart(fdA: number, fdB: number, onClose: () => void): NativeHandle | null
  spliceRelayStats(handle: NativeHandle): NativeStats
  spliceRelayClose(handle: NativeHandle): void
  spliceRelayCounts(): SpliceRelayCounts
  /** Sets TCP_CONGESTION when `name` is given and allowed; the algorithm the socket has afterwards, null for a descriptor that is not TCP. Newer builds only. */
  tcpCongestion?(fd: number, name?: string): string | null
}

export interface SpliceRelayCounts {
  /** Relays running now, over the whole process. */
  readonly active: number
  /** The cap: 4096, or less under a small RLIMIT_NOFILE (a relay holds six descriptors, at most half the limit go to relays). */
  readonly max: number
  /** The native threads serving them (0 before the first relay). */
  readonly threads: number
}

export interface SpliceRelayStats {
  /** Bytes delivered from the first socket to the second. */
  readonly aToB: number
  readonly bToA: number
  /** False once the relay closed both connections. */
  readonly open: boolean
  /** The errno name that ended the relay (ECONNRESET, EPIPE, ...), if one did. */
  readonly error?: string
}

/** A running splice relay; it owns both connections. */
export interface SpliceRelay {
  stats(): SpliceRelayStats
  /** Closes both connections now (a policy change forbids the tunnel); onClose follows. Idempotent. */
  close(): void
}

const ADDON = 'native/build/Release/lab_mount.node'

let loaded: SpliceAddon | null | undefined

/** The addon, or null where there is none (not Linux, not built, an older build without the relay). */
function addon(): SpliceAddon | null {
  if (loaded !== undefined) return loaded
  loaded = null
  if (process.platform !== 'linux') return loaded
  const here = dirname(fileURLToPath(import.meta.url))
  // the source tree (src/egress) or the CLI bundle (dist/)
  const found = [join(here, '../../', ADDON), join(here, '../', ADDON)].find((p) => existsSync(p))
  if (!found) return loaded
  const mod = createRequire(import.meta.url)(found) as Partial<SpliceAddon>
  const names = ['spliceRelayStart', 'spliceRelayStats', 'spliceRelayClose', 'spliceRelayCounts'] as const
  if (names.every((n) => typeof mod[n] === 'function')) {
    loaded = mod as SpliceAddon
  }
  return loaded
}

/** True where startSpliceRelay can work at all. */
export function spliceRelaySupported(): boolean {
  return addon() !== null
}

/** How many relays run and may run; undefined where there is no relay. */
export function spliceRelayCounts(): SpliceRelayCounts | undefined {
  return addon()?.spliceRelayCounts()
}

/** The descriptor of a plain TCP socket's libuv handle; undefined for anything else (a TLS socket, a closed one). */
function fdOf(socket: Socket | Server): number | undefined {
  if ((socket as { encrypted?: boolean }).encrypted) return undefined
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle
  const fd = handle?.fd
  return typeof fd === 'number' && fd >= 0 ? fd : undefined
}

/**
 * Sets the congestion control of a TCP socket or listener to `name` where the kernel allows it
 * (net.ipv4.tcp_allowed_congestion_control; a refusal changes nothing) and returns the algorithm
 * it has afterwards: undefined without the addon or a descriptor (not Linux, not listening, a
 * TLS socket). Set on a listener, it is what every accepted connection starts with; changed on a
 * connection, a socket that began with BBR keeps BBR's pacing (the kernel never turns it off).
 */
export function tcpCongestion(socket: Socket | Server, name?: string): string | undefined {
  const fd = fdOf(socket)
  const set = addon()?.tcpCongestion
  if (fd === undefined || set === undefined) return undefined
  return set(fd, name) ?? undefined
}

/**
 * True when `socket` holds no byte in JavaScript either way and can still send: handing its
 * descriptor over then loses nothing (what libuv has not read is still in the kernel).
 */
export function quiet(socket: Socket): boolean {
  return !socket.destroyed && !socket.writableEnded && socket.readableLength === 0 && socket.writableLength === 0
}

/**
 * Joins `a` and `b` with a splice relay and destroys both Node sockets (the relay holds its own
 * descriptors). Returns undefined, touching nothing, when that cannot be done without losing
 * data or at all: no addon (not Linux), a socket that is not a plain TCP socket, bytes buffered
 * in JavaScript (`quiet` is false: forward and flush them first), the relay cap reached, or the
 * addon refusing (its threads could not start).
 * `onClose` runs once, when the relay has closed both connections (by themselves, on an error,
 * or after close()).
 */
export function startSpliceRelay(a: Socket, b: Socket, onClose: () => void): SpliceRelay | undefined {
  const native = addon()
  if (!native || !quiet(a) || !quiet(b)) return undefined
  const fdA = fdOf(a)
  const fdB = fdOf(b)
  if (fdA === undefined || fdB === undefined) return undefined
  let closed = false
  let handle: NativeHandle | null
  try {
    handle = native.spliceRelayStart(fdA, fdB, () => {
      if (closed) return
      closed = true
      onClose()
    })
  } catch {
    // Not a stream socket after all, or the relay threads could not start: the JS relay can.
    return undefined
  }
  if (handle === null) return undefined
  // The relay has its own descriptors: Node's go, without a shutdown (destroy only closes them).
  for (const s of [a, b]) {
    s.pause()
    s.destroy()
  }
  return {
    stats: () => {
      const s = native.spliceRelayStats(handle)
      return { aToB: s.aToB, bToA: s.bToA, open: s.open, ...(s.error !== undefined ? { error: s.error } : {}) }
    },
    close: () => native.spliceRelayClose(handle),
  }
}

/** Rounds of forwarding buffered bytes and waiting for writes to flush before giving up on the handoff. */
const SETTLE_ROUNDS = 8
/** How long one round waits for a pending write to reach the kernel. */
const SETTLE_WAIT_MS = 250

/** Moves what `src` holds in its readable buffer to `dst` (at most one buffer's worth: a socket's highWaterMark). */
function forwardBuffered(src: Socket, dst: Socket): void {
  for (let chunk = src.read() as Buffer | null; chunk !== null; chunk = src.read() as Buffer | null) dst.write(chunk)
}

/** Resolves once neither socket has a write pending, one of them closed, or `ms` passed. */
function flushed(a: Socket, b: Socket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      for (const s of [a, b]) {
        s.off('drain', check)
        s.off('close', done)
      }
      resolve()
    }
    const check = (): void => {
      if (a.writableLength === 0 && b.writableLength === 0) done()
    }
    const timer = setTimeout(done, ms)
    for (const s of [a, b]) {
      s.on('drain', check)
      s.once('close', done)
    }
    setImmediate(check)
  })
}

/**
 * startSpliceRelay for two sockets that may still hold bytes in JavaScript (data that arrived
 * while the tunnel was being set up, a reply not yet flushed): forwards what is buffered, waits
 * for the writes to reach the kernel, then hands over. Undefined when it cannot (see
 * startSpliceRelay), or when a socket closed or would not settle meanwhile: the sockets are then
 * untouched but for their buffered bytes (forwarded) and an EOF already read (passed on), and
 * the caller relays in JS.
 */
export async function handOffToSplice(a: Socket, b: Socket, onClose: () => void): Promise<SpliceRelay | undefined> {
  if (!spliceRelaySupported() || fdOf(a) === undefined || fdOf(b) === undefined) return undefined
  for (let round = 0; round < SETTLE_ROUNDS; round++) {
    if (a.destroyed || b.destroyed || a.writableEnded || b.writableEnded) break
    forwardBuffered(a, b)
    forwardBuffered(b, a)
    if (quiet(a) && quiet(b)) {
      const started = startSpliceRelay(a, b, onClose)
      if (started) return started
      break
    }
    await flushed(a, b, SETTLE_WAIT_MS)
  }
  // Reading the buffers may have consumed an EOF ('end' already emitted): the JS relay would
  // not see it, so it is passed on here.
  for (const [src, dst] of [[a, b], [b, a]] as const) {
    if (src.readableEnded && !dst.writableEnded && !dst.destroyed) dst.end()
  }
  return undefined
}
