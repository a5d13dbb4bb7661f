import { InfraLabError } from './errors.ts'
import type { Attach } from './types.ts'

/** A WebSocket class: the browser's, Node 22's global one, or the `ws` package's. */
export type WebSocketConstructor = new (url: string) => object

/** What the terminal uses of a WebSocket: the part the browser's and `ws`'s have in common. */
interface Socket {
  binaryType: string
  readonly readyState: number
  onopen: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onclose: ((ev: { code: number; reason: string }) => void) | null
  onerror: ((ev: { message?: string; error?: unknown }) => void) | null
  send(data: string | Uint8Array): void
  close(code?: number, reason?: string): void
}
const OPEN = 1

/** The session ended (`{"type":"exit"}`): the shell's status, or null, and the session's `endedReason`. */
export interface TerminalExit { readonly code: number | null; readonly reason: string }
/** The session ends by `reason` (`max_lifetime`, `idle_timeout`) in `inS` seconds unless it is used or kept alive (`{"type":"expiring"}`). */
export interface TerminalExpiring { readonly reason: string; readonly inS: number }
/** The socket closed (docs/api.md lists the codes); after an exit, or one to re-attach from. */
export interface TerminalClose { readonly code: number; readonly reason: string }
/** A control message the gateway could not read (`{"type":"error"}`); the socket stays open. */
export interface TerminalControlError { readonly code: string; readonly message: string }

export interface TerminalOptions {
  /** Sent as a resize once the socket is open. */
  readonly cols?: number
  readonly rows?: number
}

type Listeners = {
  data: ((bytes: Uint8Array) => void)[]
  exit: ((e: TerminalExit) => void)[]
  expiring: ((e: TerminalExpiring) => void)[]
  close: ((e: TerminalClose) => void)[]
  error: ((e: TerminalControlError) => void)[]
}

/** Bytes kept for the first onData listener: the scrollback (256 KiB) and what follows it. */
const MAX_EARLY_BYTES = 4 * 1024 * 1024

/**
 * A session's PTY over the terminal WebSocket: binary frames carry terminal bytes both ways, text
 * frames JSON control. Output that arrives before the first onData listener (the scrollback
 * comes with the upgrade) is kept for it. After a close that was not the session's end,
 * `reattach()` opens a new socket with a fresh token and the scrollback is replayed.
 */
export class Terminal {
  private socket: Socket | undefined
  private readonly listeners: Listeners = { data: [], exit: [], expiring: [], close: [], error: [] }
  private early: Uint8Array[] | undefined = []
  private earlyBytes = 0
  private exitInfo: TerminalExit | undefined
  private expiringInfo: TerminalExpiring | undefined

  /** @internal Made by `session.terminal()`. */
  constructor(
    private readonly WS: WebSocketConstructor,
    private readonly baseUrl: string,
    private readonly freshAttach: () => Promise<Attach>,
  ) {}

  /** Set once the session has ended. */
  get exit(): TerminalExit | undefined {
    return this.exitInfo
  }

  get open(): boolean {
    return this.socket?.readyState === OPEN
  }

  onData(fn: (bytes: Uint8Array) => void): () => void {
    const off = this.on('data', fn)
    const early = this.early
    this.early = undefined
    for (const b of early ?? []) fn(b)
    return off
  }
  onExit(fn: (e: TerminalExit) => void): () => void {
    return this.on('exit', fn)
  }
  /** The last `expiring` warning, if a timeout is about to end the session. */
  get expiring(): TerminalExpiring | undefined {
    return this.expiringInfo
  }

  /**
   * A timeout ends the session soon (about a minute ahead); `session.keepalive()` may defer it.
   * A warning that came before this listener (with the upgrade, as for a late viewer) is passed to it at once.
   */
  onExpiring(fn: (e: TerminalExpiring) => void): () => void {
    const off = this.on('expiring', fn)
    if (this.expiringInfo && !this.exitInfo) fn(this.expiringInfo)
    return off
  }
  onClose(fn: (e: TerminalClose) => void): () => void {
    return this.on('close', fn)
  }
  onError(fn: (e: TerminalControlError) => void): () => void {
    return this.on('error', fn)
  }

  /** Keyboard input (a string is sent as UTF-8). Dropped while the socket is not open. */
  write(data: string | Uint8Array): void {
    if (this.socket?.readyState === OPEN) this.socket.send(typeof data === 'string' ? new TextEncoder().encode(data) : data)
  }

  resize(cols: number, rows: number): void {
    if (this.socket?.readyState === OPEN) this.socket.send(JSON.stringify({ type: 'resize', cols, rows }))
  }

  /** Closes this viewer's socket; the shell runs on. */
  close(): void {
    this.socket?.close(1000)
  }

  /** A new socket with a fresh attach token (SessionEndedError once the session has ended). */
  async reattach(opts: TerminalOptions = {}): Promise<void> {
    await this.connect(await this.freshAttach(), opts)
  }

  /** @internal Opens the socket; resolves once it is open. */
  connect(attach: Attach, opts: TerminalOptions = {}): Promise<void> {
    const old = this.socket
    if (old) {
      old.onclose = old.onmessage = old.onerror = null
      old.close(1000)
    }
    const url = new URL(attach.url, this.baseUrl)
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    url.searchParams.set('token', attach.token)
    const sock = new this.WS(url.href) as Socket
    this.socket = sock
    sock.binaryType = 'arraybuffer'
    return new Promise<void>((resolve, reject) => {
      let opened = false
      sock.onopen = () => {
        opened = true
        if (opts.cols && opts.rows) this.resize(opts.cols, opts.rows)
        resolve()
      }
      sock.onmessage = (ev) => this.message(ev.data)
      sock.onerror = (ev) => {
        // A browser says nothing of why (a refused token looks like a dropped connection).
        if (!opened) reject(new InfraLabError('unreachable', 0, `cannot open the terminal of ${attach.url}: ${ev.message ?? 'the WebSocket failed'}`, { cause: ev.error }))
      }
      sock.onclose = (ev) => {
        if (!opened) reject(new InfraLabError('unreachable', 0, `the terminal socket closed before it opened (${ev.code})`))
        if (this.socket === sock) for (const fn of this.listeners.close) fn({ code: ev.code, reason: ev.reason })
      }
    })
  }

  private message(data: unknown): void {
    if (typeof data !== 'string') {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : undefined
      if (!bytes) return
      if (this.early) {
        if (this.earlyBytes + bytes.length <= MAX_EARLY_BYTES) {
          this.early.push(bytes)
          this.earlyBytes += bytes.length
        }
        return
      }
      for (const fn of this.listeners.data) fn(bytes)
      return
    }
    let msg: { type?: string; code?: unknown; reason?: unknown; message?: unknown; inS?: unknown }
    try {
      msg = JSON.parse(data) as typeof msg
    } catch {
      return
    }
    if (msg.type === 'exit') {
      this.exitInfo = { code: typeof msg.code === 'number' ? msg.code : null, reason: typeof msg.reason === 'string' ? msg.reason : '' }
      for (const fn of this.listeners.exit) fn(this.exitInfo)
    } else if (msg.type === 'expiring') {
      const e = { reason: String(msg.reason ?? ''), inS: typeof msg.inS === 'number' ? msg.inS : 0 }
      this.expiringInfo = e
      for (const fn of this.listeners.expiring) fn(e)
    } else if (msg.type === 'error') {
      for (const fn of this.listeners.error) fn({ code: String(msg.code ?? ''), message: String(msg.message ?? '') })
    }
  }

  private on<K extends keyof Listeners>(kind: K, fn: Listeners[K][number]): () => void {
    const list = this.listeners[kind] as Listeners[K][number][]
    list.push(fn)
    return () => {
      const i = list.indexOf(fn)
      if (i >= 0) list.splice(i, 1)
    }
  }
}
