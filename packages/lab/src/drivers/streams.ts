import { Readable } from 'node:stream'
import { MAX_STREAM_CHUNK_BYTES, STREAM_WINDOW_BYTES, StreamFd, encodeCredit, encodeStream } from '@infra-lab/protocol'

/**
 * The agent broke the operations protocol (bytes for an operation or fd that takes none, more than
 * its window, credit it was never owed, an answer out of place). The channel turns it into a
 * ChannelProtocolError and closes.
 */
export class ProtocolViolation extends Error {
  override readonly name = 'ProtocolViolation'
}

/** Where an operation's frames go: the agent channel's socket. */
export interface FrameSink {
  /** Writes one frame; false when the socket's buffer is full (wait for `drained()`). */
  writeFrame(frame: Buffer): boolean
  drained(): Promise<void>
  readonly isClosed: boolean
}

export interface InboundChunk {
  readonly fd: number
  readonly data: Buffer
}

/**
 * The bytes an agent sends on some fds of one operation, delivered through one Readable. A chunk
 * leaves the queue only when the Readable asks for more (`_read`), and only then is the agent
 * granted credit for it: a consumer that stops reading stops the agent after one window per fd.
 * Held here at most: one window per fd in the queue, plus one chunk in the Readable's buffer.
 */
export class InboundStreams {
  readonly readable: Readable
  private readonly queue: InboundChunk[] = []
  /** Bytes received per fd that the agent has not been granted back yet. */
  private readonly unacked = new Map<number, number>()
  private wanted = false
  private ended = false
  private discarding = false

  constructor(
    private readonly opId: number,
    private readonly sink: FrameSink,
    fds: readonly number[],
    private readonly toChunk: (c: InboundChunk) => unknown,
    objectMode: boolean,
    /** The consumer destroyed the Readable before its end: stop the agent sending. */
    private readonly onAbandon: () => void,
  ) {
    for (const fd of fds) this.unacked.set(fd, 0)
    this.readable = new Readable({
      objectMode,
      highWaterMark: 1,
      read: () => {
        this.wanted = true
        this.pump()
      },
      destroy: (err, cb) => {
        if (!this.ended) {
          this.discarding = true
          this.queue.length = 0
          this.onAbandon()
        }
        cb(err)
      },
    })
    // A stream nobody listens to yet must not take the gateway down when the channel fails it:
    // its consumer still sees the error (iteration rejects, `errored` is set).
    this.readable.on('error', () => undefined)
  }

  /** Bytes from the agent; throws ProtocolViolation for a fd this stream does not take or past the window. */
  push(fd: number, data: Buffer): void {
    const held = this.unacked.get(fd)
    if (held === undefined) throw new ProtocolViolation(`operation ${this.opId} takes no bytes on fd ${fd}`)
    if (data.length === 0) throw new ProtocolViolation(`empty stream frame for operation ${this.opId}`)
    if (this.ended) throw new ProtocolViolation(`bytes for operation ${this.opId} after its end`)
    if (held + data.length > STREAM_WINDOW_BYTES) throw new ProtocolViolation(`operation ${this.opId} fd ${fd}: more than the ${STREAM_WINDOW_BYTES}-byte window`)
    this.unacked.set(fd, held + data.length)
    if (this.discarding) return
    // A copy: a view would pin the whole socket read it came in.
    this.queue.push({ fd, data: Buffer.from(data) })
    if (this.wanted) this.pump()
  }

  /** Drops everything and refuses more: the operation was cancelled, bytes still in flight are counted and dropped. */
  discard(): void {
    this.discarding = true
    this.queue.length = 0
  }

  /** The agent ended the operation: the Readable ends once its queue is read. */
  end(): void {
    if (this.ended) return
    this.ended = true
    if (this.wanted || this.queue.length === 0) this.pump()
  }

  fail(err: Error): void {
    this.ended = true
    this.queue.length = 0
    if (!this.readable.destroyed) this.readable.destroy(err)
  }

  get isEnded(): boolean {
    return this.ended
  }

  private pump(): void {
    if (this.readable.destroyed) return
    while (this.wanted) {
      const chunk = this.queue.shift()
      if (!chunk) {
        if (this.ended) {
          this.wanted = false
          this.readable.push(null)
        }
        return
      }
      this.wanted = this.readable.push(this.toChunk(chunk))
      this.unacked.set(chunk.fd, this.unacked.get(chunk.fd)! - chunk.data.length)
      if (!this.ended && !this.sink.isClosed) this.sink.writeFrame(encodeCredit(this.opId, chunk.fd, chunk.data.length))
    }
  }
}

/**
 * The sending side of fd 0 of one operation (stdin, upload): never more in flight than the credit
 * the agent granted, never more buffered in the socket than it takes (drain).
 */
export class OutboundStream {
  private credit = STREAM_WINDOW_BYTES
  private wake: (() => void) | undefined
  private stopped: Error | undefined

  constructor(private readonly opId: number, private readonly sink: FrameSink) {}

  /** Credit from the agent; throws ProtocolViolation when it would exceed the window. */
  grant(bytes: number): void {
    if (bytes === 0 || this.credit + bytes > STREAM_WINDOW_BYTES) {
      throw new ProtocolViolation(`operation ${this.opId}: credit of ${bytes} bytes it was not owed`)
    }
    this.credit += bytes
    this.wakeUp()
  }

  /** Ends `send` early: it rejects with `err`. */
  stop(err: Error): void {
    this.stopped ??= err
    this.wakeUp()
  }

  /**
   * Sends `body` on fd 0, then the end of the stream; resolves with the byte count. `maxBytes`:
   * rejects with `tooLarge()` once the body is longer, without sending the end. The body is read
   * as credit allows and never destroyed here (its owner answers the request).
   */
  async send(body: Readable | Buffer, maxBytes: number, tooLarge: () => Error): Promise<number> {
    let total = 0
    const chunks: AsyncIterable<unknown> | Iterable<unknown> = Buffer.isBuffer(body) ? [body] : body.iterator({ destroyOnReturn: false })
    for await (const raw of chunks) {
      const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as string)
      total += chunk.length
      if (total > maxBytes) throw tooLarge()
      for (let at = 0; at < chunk.length;) {
        await this.ready()
        const n = Math.min(chunk.length - at, this.credit, MAX_STREAM_CHUNK_BYTES)
        this.credit -= n
        const fits = this.sink.writeFrame(encodeStream(this.opId, StreamFd.STDIN, chunk.subarray(at, at + n)))
        at += n
        if (!fits) await this.sink.drained()
      }
    }
    if (this.stopped) throw this.stopped
    this.sink.writeFrame(encodeStream(this.opId, StreamFd.STDIN, Buffer.alloc(0)))
    return total
  }

  private async ready(): Promise<void> {
    while (this.credit === 0 && !this.stopped) await new Promise<void>((resolve) => (this.wake = resolve))
    if (this.stopped) throw this.stopped
  }

  private wakeUp(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }
}
