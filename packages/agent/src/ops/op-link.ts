import type { OpAnswer } from '@infra-lab/protocol'
import { encodeControl, encodeCredit, encodeStreamHeader } from '@infra-lab/protocol/frame'
import { MAX_STREAM_CHUNK_BYTES, STREAM_WINDOW_BYTES } from '@infra-lab/protocol/ops-limits'

/** Where operation frames go: the gateway connection (or, in a user worker, the root agent). */
export interface OpsSink {
  write(frame: Buffer): void
}

/**
 * The operations of one gateway connection write through this link. When the connection is
 * replaced, the link goes dead and whatever its operations still send is dropped: operation ids
 * belong to one connection, and the next gateway must never see another's answers.
 */
export class OpLink {
  private sink: OpsSink | undefined

  constructor(sink: OpsSink) {
    this.sink = sink
  }

  get alive(): boolean {
    return this.sink !== undefined
  }

  kill(): void {
    this.sink = undefined
  }

  answer(message: OpAnswer): void {
    this.sink?.write(encodeControl(message))
  }

  write(frame: Buffer): void {
    this.sink?.write(frame)
  }
}

/**
 * The sending side of one (operation, fd): never more than the gateway's credit in flight. What
 * does not fit waits here (one chunk at most: the producer pauses while `blocked`) and goes
 * when credit arrives; `onUnblocked` runs after each grant that left nothing waiting.
 */
export class OutStream {
  private credit = STREAM_WINDOW_BYTES
  private pending: Buffer | undefined
  onUnblocked: (() => void) | undefined

  constructor(private readonly link: OpLink, readonly opId: number, readonly fd: number) {}

  /** Nothing more fits now: the producer should stop until `onUnblocked`. */
  get blocked(): boolean {
    return this.pending !== undefined || this.credit === 0
  }

  /** Everything offered has been sent. */
  get idle(): boolean {
    return this.pending === undefined
  }

  /**
   * Sends what credit allows of `data` and keeps the rest until credit arrives. The caller hands
   * `data` over: it must not change it afterwards (it may still wait in the socket's queue).
   */
  offer(data: Buffer): void {
    if (this.pending) {
      this.pending = Buffer.concat([this.pending, data])
      return
    }
    const rest = this.sendSome(data)
    if (rest.length > 0) this.pending = rest
  }

  grant(bytes: number): void {
    // A gateway never grants more than it was sent; clamped all the same.
    this.credit = Math.min(STREAM_WINDOW_BYTES, this.credit + bytes)
    if (this.pending) {
      const rest = this.sendSome(this.pending)
      this.pending = rest.length > 0 ? rest : undefined
    }
    if (!this.pending) this.onUnblocked?.()
  }

  /** Drops what waits (the operation was cancelled). */
  clear(): void {
    this.pending = undefined
  }

  private sendSome(data: Buffer): Buffer {
    let at = 0
    while (at < data.length && this.credit > 0) {
      const n = Math.min(data.length - at, this.credit, MAX_STREAM_CHUNK_BYTES)
      // The bytes go as they are, after their header: `data` is never changed once offered.
      this.link.write(encodeStreamHeader(this.opId, this.fd, n))
      this.link.write(data.subarray(at, at + n))
      this.credit -= n
      at += n
    }
    return data.subarray(at)
  }
}

/** The reason an InStream is aborted when the gateway cancelled its operation. */
export const CANCELLED = new Error('cancelled')

/**
 * The receiving side of fd 0 of one operation (stdin, upload): chunks are handed to `consume`
 * one at a time, and credit is granted once each is consumed (written to the pipe or the
 * file), so the gateway never has more than a window here. An empty chunk is the end. No
 * credit goes out once the operation has ended: the gateway would see it for a closed one.
 */
export class InStream {
  private readonly queue: Buffer[] = []
  private queued = 0
  private busy = false
  private ended = false
  private failed = false

  constructor(
    private readonly op: { readonly link: OpLink; readonly opId: number; readonly isEnded: boolean },
    private readonly consume: (chunk: Buffer) => Promise<void>,
    private readonly finish: () => void,
    private readonly fail: (err: Error) => void,
  ) {}

  push(data: Buffer): void {
    if (this.ended || this.failed) return
    if (data.length === 0) {
      this.ended = true
    } else {
      this.queued += data.length
      if (this.queued > STREAM_WINDOW_BYTES) return this.abort(new Error('the gateway sent more than its window'))
      this.queue.push(Buffer.from(data))
    }
    this.pump()
  }

  abort(err: Error): void {
    if (this.failed) return
    this.failed = true
    this.queue.length = 0
    this.fail(err)
  }

  private pump(): void {
    if (this.busy || this.failed) return
    const chunk = this.queue.shift()
    if (!chunk) {
      if (this.ended && !this.failed) {
        this.failed = true // nothing more: later frames are ignored
        this.finish()
      }
      return
    }
    this.busy = true
    this.consume(chunk).then(() => {
      this.busy = false
      this.queued -= chunk.length
      if (this.failed || this.op.isEnded) return
      this.op.link.write(encodeCredit(this.op.opId, 0, chunk.length))
      this.pump()
    }, (err: Error) => {
      this.busy = false
      this.abort(err)
    })
  }
}
