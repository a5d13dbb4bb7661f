/**
 * Wire framing between gateway and agent: [kind: u8][length: u32 BE][payload].
 *
 * CONTROL carries one JSON message (see messages.ts); DATA carries terminal bytes (shell
 * output from the agent, keyboard input from the gateway); SNAPSHOT carries the scrollback
 * as [requestId: u32 BE][bytes].
 */
export const FrameKind = { CONTROL: 1, DATA: 2, SNAPSHOT: 3 } as const
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind]

export const FRAME_HEADER_BYTES = 5
/** Largest payload either side accepts; a bigger frame is a protocol error. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024

export interface Frame {
  kind: FrameKind
  payload: Buffer
}

export function encodeFrame(kind: FrameKind, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload
  if (body.length > MAX_FRAME_BYTES) throw new RangeError(`frame of ${body.length} bytes exceeds ${MAX_FRAME_BYTES}`)
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length)
  out.writeUInt8(kind, 0)
  out.writeUInt32BE(body.length, 1)
  body.copy(out, FRAME_HEADER_BYTES)
  return out
}

export function encodeControl(message: object): Buffer {
  return encodeFrame(FrameKind.CONTROL, JSON.stringify(message))
}

export function encodeSnapshot(requestId: number, data: Buffer): Buffer {
  const body = Buffer.allocUnsafe(4 + data.length)
  body.writeUInt32BE(requestId, 0)
  data.copy(body, 4)
  return encodeFrame(FrameKind.SNAPSHOT, body)
}

export function decodeSnapshot(payload: Buffer): { requestId: number; data: Buffer } {
  if (payload.length < 4) throw new RangeError('snapshot frame shorter than its header')
  return { requestId: payload.readUInt32BE(0), data: payload.subarray(4) }
}

export class FrameError extends Error {
  override readonly name = 'FrameError'
}

/** Incremental decoder: feed it socket chunks, get whole frames back. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0)

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    const frames: Frame[] = []
    while (this.buf.length >= FRAME_HEADER_BYTES) {
      const kind = this.buf.readUInt8(0)
      const length = this.buf.readUInt32BE(1)
      if (kind !== FrameKind.CONTROL && kind !== FrameKind.DATA && kind !== FrameKind.SNAPSHOT) {
        throw new FrameError(`unknown frame kind ${kind}`)
      }
      if (length > MAX_FRAME_BYTES) throw new FrameError(`frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`)
      if (this.buf.length < FRAME_HEADER_BYTES + length) break
      frames.push({ kind, payload: this.buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length) })
      this.buf = this.buf.subarray(FRAME_HEADER_BYTES + length)
    }
    return frames
  }
}
