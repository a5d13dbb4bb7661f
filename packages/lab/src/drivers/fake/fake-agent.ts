import { createServer, type Server, type Socket } from 'node:net'
import {
  FrameDecoder, FrameKind, PROTOCOL_VERSION, encodeControl, encodeFrame, encodeSnapshot, gatewayMessageSchema,
  type AgentMessage,
} from '@infra-lab/protocol'
import { runFakeLine } from './fake-shell.ts'

/**
 * An in-process stand-in for packages/agent: listens on a unix socket and speaks the real
 * protocol (hello on every connection, claim -> ready, DATA echoed back as output and kept
 * as scrollback, `echo` lines answered (fake-shell.ts), snapshot, resize, terminate -> exit
 * 'terminated', ping -> pong). It runs no commands and no files: every operation fails with
 * `internal` (or, `silentOps`, stays unanswered).
 */
export class FakeAgent {
  state: 'warm' | 'claimed' | 'exited' = 'warm'
  sessionId: string | undefined
  user: string | undefined
  /** Env names and values the claim carried (tests check secrets arrive here and nowhere else). */
  env: Record<string, string> = {}
  size = { cols: 80, rows: 24 }
  private scrollback = Buffer.alloc(0)
  private line = ''
  private readonly sockets = new Set<Socket>()
  private readonly server: Server
  private readonly startedAt = Date.now()
  private silenced = false

  constructor(readonly sandboxId: string, readonly socketPath: string, private readonly opts: { neverHello?: boolean; silentOps?: boolean } = {}) {
    this.server = createServer((socket) => this.accept(socket))
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.socketPath, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
  }

  /** Stops listening and drops every connection abruptly (as a killed sandbox would). */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  /** From now on, new connections get no hello (an agent that hangs). */
  silence(): void {
    this.silenced = true
  }

  /** Writes raw bytes to every connection: a hostile agent, for the gateway's protocol tests. */
  sendRaw(data: Buffer): void {
    for (const s of this.sockets) if (!s.destroyed) s.write(data)
  }

  /** The claimed shell prints by itself (a build log, a runaway loop): output nobody typed for. */
  print(text: string): void {
    if (this.state === 'claimed') this.emitOutput(Buffer.from(text))
  }

  get connections(): number {
    return this.sockets.size
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    const decoder = new FrameDecoder()
    socket.on('data', (chunk: Buffer) => {
      let frames
      try {
        frames = decoder.push(chunk)
      } catch {
        socket.destroy()
        return
      }
      for (const f of frames) this.onFrame(socket, f.kind, f.payload)
    })
    if (this.opts.neverHello || this.silenced) return
    this.send(socket, {
      type: 'hello', protocol: PROTOCOL_VERSION, sandboxId: this.sandboxId, agentVersion: 'fake', pid: process.pid,
      state: this.state, ...(this.sessionId ? { sessionId: this.sessionId } : {}), uptimeMs: Date.now() - this.startedAt,
    })
  }

  private onFrame(socket: Socket, kind: number, payload: Buffer): void {
    if (kind === FrameKind.DATA) return this.output(payload)
    if (kind !== FrameKind.CONTROL) return
    let json: unknown
    try {
      json = JSON.parse(payload.toString('utf8'))
    } catch {
      return this.send(socket, { type: 'error', code: 'bad_message', message: 'control frame is not JSON' })
    }
    const parsed = gatewayMessageSchema.safeParse(json)
    if (!parsed.success) return this.send(socket, { type: 'error', code: 'bad_message', message: 'unknown or invalid message' })
    const m = parsed.data
    switch (m.type) {
      case 'claim':
        if (this.state !== 'warm') return this.send(socket, { type: 'error', code: 'already_claimed', message: `sandbox is ${this.state}` })
        this.state = 'claimed'
        this.sessionId = m.sessionId
        this.user = m.user
        this.env = { ...m.env, ...m.secrets }
        if (m.cols && m.rows) this.size = { cols: m.cols, rows: m.rows }
        return this.send(socket, { type: 'ready', sessionId: m.sessionId, applyMs: 0.1 })
      case 'resize':
        this.size = { cols: m.cols, rows: m.rows }
        return
      case 'snapshot':
        socket.write(encodeSnapshot(m.requestId, this.scrollback))
        return
      case 'terminate':
        if (this.state === 'exited') return
        this.state = 'exited'
        for (const s of this.sockets) this.send(s, { type: 'exit', code: null, signal: null, reason: 'terminated' })
        return
      case 'ping':
        return this.send(socket, { type: 'pong', id: m.id })
      case 'cancel':
        return
      default:
        if (this.opts.silentOps) return
        return this.send(socket, { type: 'op_error', opId: m.opId, code: 'internal', message: 'the fake agent runs no commands or files' })
    }
  }

  /** The fake shell: input is echoed as a terminal would; complete `echo` lines print their output. */
  private output(data: Buffer): void {
    if (this.state !== 'claimed') return
    this.emitOutput(data)
    this.line += data.toString('utf8')
    let nl: number
    while ((nl = this.line.search(/[\r\n]/)) >= 0) {
      const line = this.line.slice(0, nl)
      this.line = this.line.slice(nl + 1)
      let out: string | undefined
      try {
        out = runFakeLine(line, this.env)
      } catch (err) {
        out = `fake-shell: ${(err as Error).message}`
      }
      if (out !== undefined) this.emitOutput(Buffer.from(`${out}\r\n`))
    }
  }

  private emitOutput(data: Buffer): void {
    this.scrollback = Buffer.concat([this.scrollback, data]).subarray(-64 * 1024)
    const frame = encodeFrame(FrameKind.DATA, data)
    for (const s of this.sockets) s.write(frame)
  }

  private send(socket: Socket, message: AgentMessage): void {
    if (!socket.destroyed) socket.write(encodeControl(message))
  }
}
