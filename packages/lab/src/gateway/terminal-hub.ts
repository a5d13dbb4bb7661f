import type { WebSocket } from 'ws'
import type { AgentChannel } from '../drivers/channel.ts'
import { ByteRing } from './byte-ring.ts'
import { WS_CLOSE } from './errors.ts'

/** Bytes of output the gateway mirrors per session (the agent keeps the same). */
export const MIRROR_BYTES = 256 * 1024

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
  lastActivityMs: number

  constructor(
    readonly channel: AgentChannel,
    now: number,
    private readonly clockNow: () => number,
    options: { seenAllOutput: boolean },
  ) {
    this.lastActivityMs = now
    this.mirror = options.seenAllOutput ? new ByteRing(MIRROR_BYTES) : undefined
    channel.on('output', (data) => {
      this.lastActivityMs = this.clockNow()
      this.mirror?.push(data)
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
    let viewer: Viewer
    if (this.mirror) {
      const scrollback = this.mirror.contents()
      if (scrollback.length > 0) ws.send(scrollback, { binary: true })
      viewer = { pendingSnapshot: undefined }
    } else {
      viewer = { pendingSnapshot: this.channel.requestSnapshot() }
    }
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
