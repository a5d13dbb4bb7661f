import { rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
// Zod-free entry points only (a test checks the bundle): zod would cost every sandbox ~5.5 MiB.
import type { AgentError, AgentMessage, Claim, Exit, GatewayMessage } from '@infra-lab/protocol'
import { FrameDecoder, FrameKind, encodeControl, encodeFrame, encodeSnapshot } from '@infra-lab/protocol/frame'
import { parseGatewayMessage } from '@infra-lab/protocol/lite'
import { PROTOCOL_VERSION } from '@infra-lab/protocol/version'
import { log } from './log.ts'
import type { ClaimContext } from './ops/exec-env.ts'
import type { OpsEndpoint } from './ops/ops-endpoint.ts'
import { ClaimError, type PtySession } from './pty-session.ts'
import type { Scrollback } from './scrollback.ts'
import { dropToUserLine, prepareUserWorkspace } from './user-workspace.ts'

export type AgentState = 'warm' | 'claimed' | 'exited'

export interface AgentServerConfig {
  readonly socketPath: string
  readonly sandboxId: string
  readonly agentVersion: string
  /** Shared workspaces root: each user gets `<root>/<user>` (0700) and the shell runs as the user's uid. */
  readonly workspaces?: { readonly root: string; readonly shellPath: string }
}

/**
 * Serves one gateway connection at a time on a unix socket: hello first, then control and
 * terminal frames. A new connection replaces the old one. Output goes to the scrollback and
 * to the connection in the same step, so a snapshot holds exactly the output sent before it.
 */
export class AgentServer {
  private readonly server: Server
  private conn: Socket | undefined
  private sessionId: string | undefined
  private exit: Exit | undefined

  constructor(
    private readonly config: AgentServerConfig,
    private readonly session: PtySession,
    private readonly scrollback: Scrollback,
    /** Commands and files (exec, processes, read, write, remove). */
    private readonly ops: OpsEndpoint,
  ) {
    this.server = createServer((socket) => this.accept(socket))
    session.on('output', (data) => this.onOutput(data))
    session.on('exit', (exit) => this.onExit(exit))
  }

  get state(): AgentState {
    return this.exit ? 'exited' : this.sessionId !== undefined ? 'claimed' : 'warm'
  }

  listen(): Promise<void> {
    rmSync(this.config.socketPath, { force: true })
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.config.socketPath, () => {
        this.server.off('error', reject)
        this.server.on('error', (err) => log('server_error', { code: (err as NodeJS.ErrnoException).code }))
        resolve()
      })
    })
  }

  close(): void {
    this.conn?.destroy()
    this.server.close()
    rmSync(this.config.socketPath, { force: true })
  }

  private accept(socket: Socket): void {
    if (this.conn) {
      log('connection_replaced')
      this.dropConnection(this.conn)
    }
    this.conn = socket
    const decoder = new FrameDecoder()
    socket.on('data', (chunk: Buffer) => {
      let frames
      try {
        frames = decoder.push(chunk)
      } catch (err) {
        // The stream can no longer be framed: say why, then drop this connection.
        socket.removeAllListeners('data')
        socket.write(encodeControl({ type: 'error', code: 'bad_message', message: (err as Error).message }), () => socket.destroy())
        return
      }
      for (const frame of frames) {
        try {
          this.onFrame(socket, frame.kind, frame.payload)
        } catch (err) {
          log('internal_error', { message: err instanceof Error ? err.message : 'unknown' })
          this.sendError(socket, 'internal', 'the agent failed to handle a frame')
        }
      }
    })
    socket.on('drain', () => this.session.resume())
    socket.on('error', (err) => log('connection_error', { code: (err as NodeJS.ErrnoException).code }))
    socket.on('close', () => {
      if (this.conn === socket) {
        this.conn = undefined
        this.session.resume()
        this.ops.disconnect()
      }
    })
    this.ops.connect({ write: (frame) => void (socket.destroyed || socket.write(frame)) })
    const hello: AgentMessage = {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      sandboxId: this.config.sandboxId,
      agentVersion: this.config.agentVersion,
      pid: process.pid,
      state: this.state,
      ...(this.sessionId !== undefined ? { sessionId: this.sessionId } : {}),
      uptimeMs: Math.round(performance.now() * 1000) / 1000,
    }
    socket.write(encodeControl(hello))
    if (this.exit) socket.write(encodeControl(this.exit))
  }

  private dropConnection(socket: Socket): void {
    socket.destroy()
    this.session.resume()
  }

  private onFrame(socket: Socket, kind: number, payload: Buffer): void {
    if (kind === FrameKind.DATA) return this.session.write(payload)
    if (kind === FrameKind.STREAM || kind === FrameKind.CREDIT) return this.ops.frame(kind, payload)
    if (kind !== FrameKind.CONTROL) return this.sendError(socket, 'bad_message', 'the agent accepts only control, data, stream and credit frames')
    let json: unknown
    try {
      json = JSON.parse(payload.toString('utf8'))
    } catch {
      return this.sendError(socket, 'bad_message', 'control frame is not JSON')
    }
    const parsed = parseGatewayMessage(json)
    // The error names the field, never its value.
    if (!parsed.ok) return this.sendError(socket, 'bad_message', `invalid message: ${parsed.error}`)
    this.onMessage(socket, parsed.message)
  }

  private onMessage(socket: Socket, message: GatewayMessage): void {
    switch (message.type) {
      case 'claim':
        return void this.claim(socket, message)
      case 'resize':
        return this.session.resize(message.cols, message.rows)
      case 'snapshot':
        socket.write(encodeSnapshot(message.requestId, this.scrollback.snapshot()))
        return
      case 'ping':
        socket.write(encodeControl({ type: 'pong', id: message.id }))
        return
      case 'terminate':
        if (this.exit) socket.write(encodeControl(this.exit))
        else this.session.terminate()
        return
      default:
        return this.ops.request(message)
    }
  }

  private async claim(socket: Socket, claim: Claim): Promise<void> {
    const started = performance.now()
    if (this.sessionId !== undefined) return this.sendError(socket, 'already_claimed', `sandbox already claimed by session ${this.sessionId}`)
    if (this.exit) return this.sendError(socket, 'claim_failed', 'the shell has exited')
    this.sessionId = claim.sessionId
    this.scrollback.clear()
    // Operations that arrive meanwhile wait for this; the claim's details stay in memory only.
    let applied!: (context: (ClaimContext & { uid?: number }) | undefined) => void
    this.ops.setClaim(new Promise((resolve) => (applied = resolve)))
    let context: ClaimContext & { uid?: number }
    try {
      const ws = this.config.workspaces
      if (ws) {
        let user
        try {
          user = prepareUserWorkspace(ws.root, claim.user)
        } catch (err) {
          throw new ClaimError(`cannot prepare the workspace of ${claim.user}: ${(err as Error).message}`)
        }
        await this.session.claim({ ...claim, home: user.home }, dropToUserLine(user.uid, ws.shellPath))
        context = { sessionId: claim.sessionId, user: claim.user, home: user.home, env: claim.env, secrets: claim.secrets, uid: user.uid }
      } else {
        await this.session.claim(claim)
        context = { sessionId: claim.sessionId, user: claim.user, home: claim.home, env: claim.env, secrets: claim.secrets }
      }
    } catch (err) {
      applied(undefined)
      const message = err instanceof ClaimError ? err.message : 'internal error applying the claim'
      log('claim_failed', { sessionId: claim.sessionId, message })
      return this.sendError(this.conn ?? socket, 'claim_failed', message)
    }
    const applyMs = Math.round((performance.now() - started) * 1000) / 1000
    log('claimed', {
      sessionId: claim.sessionId, user: claim.user, envCount: Object.keys(claim.env).length,
      secretCount: Object.keys(claim.secrets).length, applyMs,
    })
    this.conn?.write(encodeControl({ type: 'ready', sessionId: claim.sessionId, applyMs }))
    applied(context)
  }

  private onOutput(data: Buffer): void {
    this.scrollback.append(data)
    if (this.conn && !this.conn.write(encodeFrame(FrameKind.DATA, data))) this.session.pause()
  }

  private onExit(exit: Exit): void {
    this.exit = exit
    log('shell_exit', { code: exit.code, signal: exit.signal, reason: exit.reason })
    this.conn?.write(encodeControl(exit))
  }

  private sendError(socket: Socket, code: AgentError['code'], message: string): void {
    if (!socket.destroyed) socket.write(encodeControl({ type: 'error', code, message }))
  }
}
