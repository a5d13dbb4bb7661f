import { rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
// Zod-free entry points only (a test checks the bundle): zod would cost every sandbox ~5.5 MiB.
import type { AgentError, AgentMessage, Claim, Exit, GatewayMessage } from '@infra-lab/protocol'
import { FrameDecoder, FrameKind, encodeControl, encodeFrame, encodeSnapshot } from '@infra-lab/protocol/frame'
import { parseGatewayMessage } from '@infra-lab/protocol/lite'
import { MAX_GATEWAY_CONNECTIONS } from '@infra-lab/protocol/ops-limits'
import { PROTOCOL_VERSION } from '@infra-lab/protocol/version'
import { log } from './log.ts'
import type { ClaimContext } from './ops/exec-env.ts'
import type { OpsChannel, OpsEndpoint } from './ops/ops-endpoint.ts'
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
 * How long a connection may hold the shell's output back (its socket full) while another
 * connection keeps up, before it is closed: one slow replica must not stall the shell for the
 * others. With one connection the shell simply waits for it, as a terminal does.
 */
export const STALLED_CONNECTION_MS = 10_000

/** One gateway connection and whether it is holding the shell's output back. */
interface GatewayConn {
  readonly socket: Socket
  readonly ops: OpsChannel
  /** Since when its socket has been full (undefined: it keeps up). */
  fullSince: number | undefined
}

/**
 * Serves gateway connections on a unix socket: hello first, then control and terminal frames.
 * Several gateways may be connected at once (replicas: each keeps a connection to every agent):
 * output goes to all, input is taken from any, the claim is applied once (a second claim for the
 * same session waits for it and gets the same answer), and each connection's operations are its
 * own. Past MAX_GATEWAY_CONNECTIONS the oldest connection is closed. Output goes to the
 * scrollback and to the connections in the same step, so a snapshot holds exactly the output
 * sent before it.
 */
export class AgentServer {
  private readonly server: Server
  /** Oldest first. */
  private readonly conns = new Map<Socket, GatewayConn>()
  private sessionId: string | undefined
  /** The claim being applied or applied: what every claim for its session is answered. */
  private claimOutcome: Promise<{ ok: true; applyMs: number } | { ok: false; message: string }> | undefined
  private exit: Exit | undefined
  private stallTimer: NodeJS.Timeout | undefined

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

  /** Gateway connections open now. */
  get connections(): number {
    return this.conns.size
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
    clearTimeout(this.stallTimer)
    for (const socket of this.conns.keys()) socket.destroy()
    this.server.close()
    rmSync(this.config.socketPath, { force: true })
  }

  private accept(socket: Socket): void {
    if (this.conns.size >= MAX_GATEWAY_CONNECTIONS) {
      const oldest = this.conns.keys().next().value!
      log('connection_evicted', { connections: this.conns.size })
      this.forget(oldest)
      oldest.destroy()
    }
    const conn: GatewayConn = { socket, ops: this.ops.connect({ write: (frame) => void (socket.destroyed || socket.write(frame)) }), fullSince: undefined }
    this.conns.set(socket, conn)
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
          this.onFrame(conn, frame.kind, frame.payload)
        } catch (err) {
          log('internal_error', { message: err instanceof Error ? err.message : 'unknown' })
          this.sendError(socket, 'internal', 'the agent failed to handle a frame')
        }
      }
    })
    socket.on('drain', () => {
      conn.fullSince = undefined
      this.resumeIfAllKeepUp()
    })
    socket.on('error', (err) => log('connection_error', { code: (err as NodeJS.ErrnoException).code }))
    socket.on('close', () => this.forget(socket))
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
    // The shell may be waiting for a connection that stopped reading: this one keeps up.
    if ([...this.conns.values()].some((c) => c.fullSince !== undefined)) this.holdBack()
  }

  /** A connection is gone: its operations go quiet, and the shell no longer waits for it. */
  private forget(socket: Socket): void {
    const conn = this.conns.get(socket)
    if (!conn) return
    this.conns.delete(socket)
    conn.ops.close()
    this.resumeIfAllKeepUp()
  }

  private resumeIfAllKeepUp(): void {
    for (const c of this.conns.values()) if (c.fullSince !== undefined) return
    this.session.resume()
  }

  private onFrame(conn: GatewayConn, kind: number, payload: Buffer): void {
    const { socket } = conn
    if (kind === FrameKind.DATA) return this.session.write(payload)
    if (kind === FrameKind.STREAM || kind === FrameKind.CREDIT) return conn.ops.frame(kind, payload)
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
    this.onMessage(conn, parsed.message)
  }

  private onMessage(conn: GatewayConn, message: GatewayMessage): void {
    const { socket } = conn
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
        return conn.ops.request(message)
    }
  }

  /**
   * Applies a claim once. The same session's claim again (another replica, or a retry) waits for
   * the first and gets its answer; another session's is refused.
   */
  private async claim(socket: Socket, claim: Claim): Promise<void> {
    if (this.sessionId !== undefined && this.sessionId !== claim.sessionId) {
      return this.sendError(socket, 'already_claimed', `sandbox already claimed by session ${this.sessionId}`)
    }
    if (this.claimOutcome) return this.answerClaim(socket, claim.sessionId, await this.claimOutcome)
    if (this.exit) return this.sendError(socket, 'claim_failed', 'the shell has exited')
    this.sessionId = claim.sessionId
    let settle!: (outcome: { ok: true; applyMs: number } | { ok: false; message: string }) => void
    this.claimOutcome = new Promise((resolve) => (settle = resolve))
    const outcome = await this.applyClaim(claim)
    settle(outcome)
    this.answerClaim(socket, claim.sessionId, outcome)
  }

  /** To the connection that asked or, if it is gone, to every connection (a gateway that reconnected meanwhile waits for it). */
  private answerClaim(socket: Socket, sessionId: string, outcome: { ok: true; applyMs: number } | { ok: false; message: string }): void {
    const to = !socket.destroyed ? [socket] : [...this.conns.keys()]
    for (const s of to) {
      if (outcome.ok) s.write(encodeControl({ type: 'ready', sessionId, applyMs: outcome.applyMs }))
      else this.sendError(s, 'claim_failed', outcome.message)
    }
  }

  private async applyClaim(claim: Claim): Promise<{ ok: true; applyMs: number } | { ok: false; message: string }> {
    const started = performance.now()
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
      return { ok: false, message }
    }
    const applyMs = Math.round((performance.now() - started) * 1000) / 1000
    log('claimed', {
      sessionId: claim.sessionId, user: claim.user, envCount: Object.keys(claim.env).length,
      secretCount: Object.keys(claim.secrets).length, applyMs,
    })
    applied(context)
    return { ok: true, applyMs }
  }

  private onOutput(data: Buffer): void {
    this.scrollback.append(data)
    if (this.conns.size === 0) return
    const frame = encodeFrame(FrameKind.DATA, data)
    let full = false
    for (const conn of this.conns.values()) {
      if (conn.socket.write(frame)) continue
      conn.fullSince ??= performance.now()
      full = true
    }
    if (full) this.holdBack()
  }

  /**
   * Some connection's socket is full: the shell waits for it, unless another connection keeps up
   * and it has been full for STALLED_CONNECTION_MS; then it is closed and the shell goes on.
   */
  private holdBack(): void {
    const now = performance.now()
    const conns = [...this.conns.values()]
    if (conns.some((c) => c.fullSince === undefined)) {
      for (const c of conns) {
        if (c.fullSince === undefined || now - c.fullSince < STALLED_CONNECTION_MS) continue
        log('connection_stalled', { ms: Math.round(now - c.fullSince) })
        this.forget(c.socket)
        c.socket.destroy()
      }
    }
    const full = [...this.conns.values()].filter((c) => c.fullSince !== undefined)
    if (full.length === 0) return this.session.resume()
    this.session.pause()
    // The shell is paused, so no output comes to look again: a timer does.
    if (this.stallTimer === undefined && full.length < this.conns.size) {
      const due = Math.min(...full.map((c) => c.fullSince!)) + STALLED_CONNECTION_MS - now
      this.stallTimer = setTimeout(() => {
        this.stallTimer = undefined
        if ([...this.conns.values()].some((c) => c.fullSince !== undefined)) this.holdBack()
      }, Math.max(1, due))
      this.stallTimer.unref()
    }
  }

  private onExit(exit: Exit): void {
    this.exit = exit
    log('shell_exit', { code: exit.code, signal: exit.signal, reason: exit.reason })
    for (const socket of this.conns.keys()) socket.write(encodeControl(exit))
  }

  private sendError(socket: Socket, code: AgentError['code'], message: string): void {
    if (!socket.destroyed) socket.write(encodeControl({ type: 'error', code, message }))
  }
}
