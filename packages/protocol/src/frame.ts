/**
 * Wire framing between gateway and agent: [kind: u8][length: u32 BE][payload].
 *
 * CONTROL carries one JSON message (see messages.ts); DATA carries terminal bytes (shell
 * output from the agent, keyboard input from the gateway); SNAPSHOT carries the scrollback
 * as [requestId: u32 BE][bytes]. STREAM carries the bytes of one operation's stream as
 * [opId: u32 BE][fd: u8][bytes] (no bytes: that stream ended), and CREDIT lets the sender of a
 * stream send more: [opId: u32 BE][fd: u8][bytes: u32 BE] (docs/protocol.md, flow control).
 */
export const FrameKind = { CONTROL: 1, DATA: 2, SNAPSHOT: 3, STREAM: 4, CREDIT: 5 } as const
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

export const STREAM_HEADER_BYTES = 5
export const CREDIT_PAYLOAD_BYTES = 9

/** One copy of `data`, straight into the frame. */
export function encodeStream(opId: number, fd: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + STREAM_HEADER_BYTES + data.length)
  writeStreamHeader(out, opId, fd, data.length)
  out.set(data, FRAME_HEADER_BYTES + STREAM_HEADER_BYTES)
  return out
}

/**
 * The frame header and stream header of a STREAM frame of `dataLength` bytes, for a writer that
 * sends the bytes after it as they are, without copying them into the frame.
 */
export function encodeStreamHeader(opId: number, fd: number, dataLength: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + STREAM_HEADER_BYTES)
  writeStreamHeader(out, opId, fd, dataLength)
  return out
}

function writeStreamHeader(out: Buffer, opId: number, fd: number, dataLength: number): void {
  const length = STREAM_HEADER_BYTES + dataLength
  if (length > MAX_FRAME_BYTES) throw new RangeError(`frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`)
  out.writeUInt8(FrameKind.STREAM, 0)
  out.writeUInt32BE(length, 1)
  out.writeUInt32BE(opId, FRAME_HEADER_BYTES)
  out.writeUInt8(fd, FRAME_HEADER_BYTES + 4)
}

/** The header of a STREAM payload and a view of its bytes; undefined when shorter than the header. */
export function decodeStream(payload: Buffer): { opId: number; fd: number; data: Buffer } | undefined {
  if (payload.length < STREAM_HEADER_BYTES) return undefined
  return { opId: payload.readUInt32BE(0), fd: payload.readUInt8(4), data: payload.subarray(STREAM_HEADER_BYTES) }
}

export function encodeCredit(opId: number, fd: number, bytes: number): Buffer {
  const body = Buffer.allocUnsafe(CREDIT_PAYLOAD_BYTES)
  body.writeUInt32BE(opId, 0)
  body.writeUInt8(fd, 4)
  body.writeUInt32BE(bytes, 5)
  return encodeFrame(FrameKind.CREDIT, body)
}

/** A CREDIT payload, or undefined when it is not exactly 9 bytes. */
export function decodeCredit(payload: Buffer): { opId: number; fd: number; bytes: number } | undefined {
  if (payload.length !== CREDIT_PAYLOAD_BYTES) return undefined
  return { opId: payload.readUInt32BE(0), fd: payload.readUInt8(4), bytes: payload.readUInt32BE(5) }
}

export class FrameError extends Error {
  override readonly name = 'FrameError'
}

/**
 * Incremental decoder: feed it socket chunks, get whole frames back. Chunks are kept as they
 * arrive and joined once per completed frame, so a large frame costs one copy, not one per chunk
 * (the peer may be hostile: its frames must not cost the reader quadratic time). At most one
 * frame (MAX_FRAME_BYTES) plus one chunk is ever held.
 */
export class FrameDecoder {
  private chunks: Buffer[] = []
  private total = 0

  /** Returns the frames completed by `chunk`; payloads are views into the chunks, not copies. */
  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk)
      this.total += chunk.length
    }
    const frames: Frame[] = []
    while (this.total >= FRAME_HEADER_BYTES) {
      const head = this.head(FRAME_HEADER_BYTES)
      const kind = head.readUInt8(0)
      const length = head.readUInt32BE(1)
      if (kind < FrameKind.CONTROL || kind > FrameKind.CREDIT) {
        throw new FrameError(`unknown frame kind ${kind}`)
      }
      if (length > MAX_FRAME_BYTES) throw new FrameError(`frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`)
      const size = FRAME_HEADER_BYTES + length
      if (this.total < size) break
      const buf = this.head(size)
      frames.push({ kind: kind as FrameKind, payload: buf.subarray(FRAME_HEADER_BYTES, size) })
      this.consume(size)
    }
    return frames
  }

  /** The first `n` buffered bytes as one buffer (joins chunks only when they straddle `n`). */
  private head(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks, this.total)]
    return this.chunks[0]!
  }

  private consume(n: number): void {
    const first = this.chunks[0]!
    if (first.length === n) this.chunks.shift()
    else this.chunks[0] = first.subarray(n)
    this.total -= n
  }
}
