import type { WebSocket } from 'ws'
import type { AgentChannel } from '../drivers/channel.ts'
import { WS_CLOSE } from './errors.ts'

interface Viewer {
  /** Snapshot request this viewer waits for; live output is held back until it arrives. */
  pendingSnapshot: number | undefined
}

/**
 * Bridges one session's agent channel to any number of WebSockets. Output and snapshot frames
 * arrive in order on the channel, so a viewer that asked for a snapshot skips exactly the
 * output that the snapshot already holds and then goes live.
 */
export class TerminalHub {
  private readonly viewers = new Map<WebSocket, Viewer>()
  lastActivityMs: number

  constructor(readonly channel: AgentChannel, now: number, private readonly clockNow: () => number) {
    this.lastActivityMs = now
    channel.on('output', (data) => {
      this.lastActivityMs = this.clockNow()
      for (const [ws, v] of this.viewers) if (v.pendingSnapshot === undefined) ws.send(data, { binary: true })
    })
    channel.on('snapshot', (requestId, data) => {
      for (const [ws, v] of this.viewers) {
        if (v.pendingSnapshot !== requestId) continue
        v.pendingSnapshot = undefined
        if (data.length > 0) ws.send(data, { binary: true })
      }
    })
  }

  get viewerCount(): number {
    return this.viewers.size
  }

  /** Adds a viewer: it gets the scrollback first, then live output. */
  attach(ws: WebSocket): void {
    const viewer: Viewer = { pendingSnapshot: this.channel.requestSnapshot() }
    this.viewers.set(ws, viewer)
    ws.on('close', () => this.viewers.delete(ws))
  }

  input(data: Buffer): void {
    this.lastActivityMs = this.clockNow()
    this.channel.sendInput(data)
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
