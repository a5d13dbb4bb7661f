import type { WebSocket } from 'ws'
import type { AgentChannel } from '../drivers/channel.ts'
import { ByteRing } from './byte-ring.ts'
import { WS_CLOSE } from './errors.ts'

/** Bytes of output the gateway mirrors per session (the agent keeps the same). */
export const MIRROR_BYTES = 256 * 1024

/**
 * Output a viewer may have waiting in the gateway (its `bufferedAmount`) before it is closed
 * with 1013. The gateway reads the agent at the shell's pace, never at the slowest viewer's,
 * so without this bound a viewer that stops reading grows the gateway without limit.
 */
export const VIEWER_MAX_BUFFERED_BYTES = 4 * 1024 * 1024

interface Viewer {
  /** Snapshot request this viewer waits for; live output is held back until it arrives. */
  pendingSnapshot: number | undefined
}

/**
 * Bridges one session's agent channel to any number of WebSockets.
 *
 * A hub made before the claim has seen every byte of the session's output and mirrors the
 * scrollback itself, so a new viewer gets it at once. A hub made after a gateway restart has
 * not: it asks the agent for a snapshot. Output and snapshot frames arrive in order on the
 * channel, so such a viewer skips exactly the output the snapshot already holds.
 */
export class TerminalHub {
  private readonly viewers = new Map<WebSocket, Viewer>()
  private readonly mirror: ByteRing | undefined
  private lastTouchMs: number

  constructor(
    readonly channel: AgentChannel,
    now: number,
    private readonly clockNow: () => number,
    options: { seenAllOutput: boolean },
  ) {
    this.lastTouchMs = now
    this.mirror = options.seenAllOutput ? new ByteRing(MIRROR_BYTES) : undefined
    // Output is not activity: a shell printing forever with nobody watching is idle.
    channel.on('output', (data) => {
      this.mirror?.push(data) // copies: the ring never pins the reads
      for (const [ws, v] of this.viewers) if (v.pendingSnapshot === undefined) this.deliver(ws, data)
    })
    channel.on('snapshot', (requestId, data) => {
      for (const [ws, v] of this.viewers) {
        if (v.pendingSnapshot !== requestId) continue
        v.pendingSnapshot = undefined
        if (data.length > 0) this.deliver(ws, data)
      }
    })
  }

  get viewerCount(): number {
    return this.viewers.size
  }

  /**
   * When the session was last used: terminal input, an API call on it (touch), or a viewer.
   * While a viewer is attached that is now; once the last one leaves, idleness counts from then.
   */
  get lastActivityMs(): number {
    return this.viewers.size > 0 ? this.clockNow() : this.lastTouchMs
  }

  /** Marks the session used now. */
  touch(): void {
    this.lastTouchMs = this.clockNow()
  }

  /** Adds a viewer: it gets the scrollback first, then live output. */
  attach(ws: WebSocket): void {
    let viewer: Viewer
    if (this.mirror) {
      viewer = { pendingSnapshot: undefined }
    } else {
      viewer = { pendingSnapshot: this.channel.requestSnapshot() }
    }
    this.viewers.set(ws, viewer)
    ws.on('close', () => this.removeViewer(ws))
    const scrollback = this.mirror?.contents()
    if (scrollback && scrollback.length > 0) this.deliver(ws, scrollback)
  }

  /** False when the agent's socket is full: the caller stops reading input until `channel.drained()`. */
  input(data: Buffer): boolean {
    this.touch()
    return this.channel.sendInput(data)
  }

  /**
   * Sends to one viewer, and closes it with 1013 once its backlog passes the bound: the shell
   * goes on, the mirror and the agent keep the tail, and the viewer re-attaches to continue.
   * The close frame queues behind the backlog; ws destroys a socket whose peer never reads
   * it within its close timeout (30 s), so the backlog is held at most that long.
   */
  deliver(ws: WebSocket, data: Buffer | string): void {
    if (ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount <= VIEWER_MAX_BUFFERED_BYTES) ws.send(data, { binary: typeof data !== 'string' })
    if (ws.bufferedAmount > VIEWER_MAX_BUFFERED_BYTES) {
      this.removeViewer(ws)
      ws.close(WS_CLOSE.tryAgainLater, 'too far behind: re-attach to continue')
    }
  }

  /** A control frame to every viewer (one behind on output gets it after what it is still sent). */
  broadcast(text: string): void {
    for (const ws of this.viewers.keys()) this.deliver(ws, text)
  }

  /** The session was watched until now: idleness counts from the moment its last viewer left. */
  private removeViewer(ws: WebSocket): void {
    if (this.viewers.delete(ws)) this.touch()
  }

  /** Tells every viewer the session ended, then closes them. */
  closeAll(code: number, text?: string): void {
    for (const ws of this.viewers.keys()) {
      if (text !== undefined) ws.send(text)
      ws.close(code)
    }
    this.viewers.clear()
  }

  /** Gateway shutdown: viewers may re-attach later; the shell keeps running. */
  goAway(): void {
    this.closeAll(WS_CLOSE.goingAway)
  }
}
