import type { WebSocket } from 'ws'
import type { TerminalHub } from './terminal-hub.ts'

/**
 * Wires one WebSocket to a session's hub: binary frames are keyboard input, text frames JSON
 * control (`resize`); anything else gets an `error` frame and the socket stays open.
 */
export function bridgeSocket(hub: TerminalHub, ws: WebSocket): void {
  hub.attach(ws)
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      try {
        hub.input(data)
      } catch {
        // channel closed: the session is ending and the socket will be closed
      }
      return
    }
    let msg: unknown
    try {
      msg = JSON.parse(data.toString('utf8'))
    } catch {
      ws.send(JSON.stringify({ type: 'error', code: 'bad_message', message: 'text frames must be JSON control messages' }))
      return
    }
    const m = msg as { type?: unknown; cols?: unknown; rows?: unknown }
    if (m.type === 'resize' && isDim(m.cols) && isDim(m.rows)) {
      try {
        hub.channel.send({ type: 'resize', cols: m.cols, rows: m.rows })
      } catch {
        // as above
      }
    } else {
      ws.send(JSON.stringify({ type: 'error', code: 'bad_message', message: 'expected {"type":"resize","cols":1..1000,"rows":1..1000}' }))
    }
  })
}

function isDim(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 1000
}
