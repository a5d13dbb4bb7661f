import type { OpAnswer, OpErrorCode } from '@infra-lab/protocol'
import { STREAM_WINDOW_BYTES } from '@infra-lab/protocol/ops-limits'
import type { OpLink } from './op-link.ts'

/** What an operation does with the frames the gateway sends it. */
export interface OpHandlers {
  /** Bytes on fd 0 (an empty chunk: the end). */
  stream?(fd: number, data: Buffer): void
  credit?(fd: number, bytes: number): void
  /** The gateway stopped this operation's streams, or its connection went away. */
  cancel(): void
}

/**
 * One operation of one gateway connection. Frames that arrive before the operation has set its
 * handlers (it waits for the claim, or opens a file) are held, up to the window the gateway may
 * send before any credit, and handed over in order by `on`.
 */
export class OpContext {
  private handlers: OpHandlers | undefined
  private early: Array<[number, Buffer]> | undefined = []
  private earlyBytes = 0
  private ended = false
  cancelled = false

  constructor(readonly link: OpLink, readonly opId: number, private readonly onEnd: (ctx: OpContext) => void) {}

  get isEnded(): boolean {
    return this.ended
  }

  on(handlers: OpHandlers): void {
    this.handlers = handlers
    const early = this.early ?? []
    this.early = undefined
    for (const [fd, data] of early) handlers.stream?.(fd, data)
    if (this.cancelled) handlers.cancel()
  }

  stream(fd: number, data: Buffer): void {
    if (this.handlers) return this.handlers.stream?.(fd, data)
    if (!this.early) return
    this.earlyBytes += data.length
    if (this.earlyBytes > STREAM_WINDOW_BYTES) return this.error('internal', 'the gateway sent more than its window')
    this.early.push([fd, Buffer.from(data)])
  }

  credit(fd: number, bytes: number): void {
    this.handlers?.credit?.(fd, bytes)
  }

  cancel(): void {
    if (this.cancelled) return
    this.cancelled = true
    this.handlers?.cancel()
  }

  /** Sends the operation's last answer; nothing of it is sent after this. */
  end(answer: OpAnswer): void {
    if (this.ended) return
    this.ended = true
    this.early = undefined
    this.onEnd(this)
    this.link.answer(answer)
  }

  error(code: OpErrorCode, message: string): void {
    this.end({ type: 'op_error', opId: this.opId, code, message: message.slice(0, 1024) })
  }

  done(bytes?: number): void {
    this.end(bytes === undefined ? { type: 'done', opId: this.opId } : { type: 'done', opId: this.opId, bytes })
  }
}
