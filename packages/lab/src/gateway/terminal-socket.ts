import type { WebSocket } from 'ws'
import { controlFrame } from './terminal-frames.ts'
import type { TerminalHub } from './terminal-hub.ts'

/**
 * Wires one WebSocket to a session's hub: binary frames are keyboard input, text frames JSON
 * control (`resize`); anything else gets an `error` frame and the socket stays open.
 *
 * Input waits for the agent: when the channel's socket is full this WebSocket is not read
 * until it drains, so a client sending faster than the shell reads holds no more than the
 * frames of one socket read in the gateway (TCP holds the rest, then the client's own send
 * buffer fills).
 */
export function bridgeSocket(hub: TerminalHub, ws: WebSocket): void {
  hub.attach(ws)
  let waiting = false
  const forward = (write: () => boolean): void => {
    let full: boolean
    try {
      full = !write()
    } catch {
      return // channel closed: the session is ending and the socket will be closed
    }
    if (!full || waiting) return
    waiting = true
    ws.pause()
    void hub.channel.drained().then(() => {
      waiting = false
      ws.resume()
    })
  }
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) return forward(() => hub.input(data))
    let msg: unknown
    try {
      msg = JSON.parse(data.toString('utf8'))
    } catch {
      hub.deliver(ws, controlFrame({ type: 'error', code: 'bad_message', message: 'text frames must be JSON control messages' }))
      return
    }
    const { type, cols, rows } = (msg ?? {}) as { type?: unknown; cols?: unknown; rows?: unknown }
    if (type === 'resize' && isDim(cols) && isDim(rows)) {
      forward(() => hub.channel.send({ type: 'resize', cols, rows }))
    } else {
      hub.deliver(ws, controlFrame({ type: 'error', code: 'bad_message', message: 'expected {"type":"resize","cols":1..1000,"rows":1..1000}' }))
    }
  })
}

function isDim(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 1000
}
