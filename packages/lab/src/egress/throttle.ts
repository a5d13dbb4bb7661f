/**
 * Moving bytes between two streams with backpressure and a shared byte rate: a session's
 * connections draw from one token bucket in both directions. A pump holds at most the chunk in
 * hand: it pauses its source while the destination is full or the bucket is in debt.
 */
import type { Duplex, Readable, Writable } from 'node:stream'

/** Tokens are bytes. `take` may run the bucket into debt; the debt says how long to wait. */
export class TokenBucket {
  private tokens: number
  private last: number

  /** `bytesPerSec` <= 0 or not finite: no limit. The burst is a quarter second of traffic, at least 16 KiB. */
  constructor(readonly bytesPerSec: number, private readonly now: () => number = () => performance.now()) {
    this.tokens = this.burst
    this.last = now()
  }

  get limited(): boolean {
    return Number.isFinite(this.bytesPerSec) && this.bytesPerSec > 0
  }

  private get burst(): number {
    return Math.max(16 * 1024, this.bytesPerSec / 4)
  }

  /** Spends `bytes`; returns how many ms the caller should wait before sending more (0: go on). */
  take(bytes: number): number {
    if (!this.limited) return 0
    const t = this.now()
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.bytesPerSec)
    this.last = t
    this.tokens -= bytes
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.bytesPerSec) * 1000)
  }
}

/**
 * Copies `src` to `dst` (ending `dst` when `src` ends), pausing `src` while `dst` is full or the
 * bucket asks to wait. `onBytes` counts what passed. Returns a function that stops the copy.
 */
export function pump(src: Readable, dst: Writable, bucket: TokenBucket, onBytes?: (n: number) => void): () => void {
  let draining = false
  let timer: NodeJS.Timeout | undefined
  const resumeIfFree = (): void => {
    if (!draining && !timer && !src.destroyed) src.resume()
  }
  const onDrain = (): void => {
    draining = false
    resumeIfFree()
  }
  const onData = (chunk: Buffer): void => {
    onBytes?.(chunk.length)
    if (!dst.write(chunk)) {
      draining = true
      src.pause()
      dst.once('drain', onDrain)
    }
    const wait = bucket.take(chunk.length)
    if (wait > 0) {
      src.pause()
      timer ??= setTimeout(() => {
        timer = undefined
        resumeIfFree()
      }, wait)
    }
  }
  const onEnd = (): void => {
    if (!dst.writableEnded && !dst.destroyed) dst.end()
  }
  src.on('data', onData)
  src.once('end', onEnd)
  src.resume()
  return () => {
    src.off('data', onData)
    src.off('end', onEnd)
    dst.off('drain', onDrain)
    if (timer) clearTimeout(timer)
    timer = undefined
  }
}

/** How long a side may still flush after its peer closed. */
const LINGER_MS = 2_000

/**
 * Joins two duplex streams both ways through `bucket`. Half-close passes through (each side's end
 * ends the other's writable); an error on either side destroys both. `onClose` runs once, when
 * both are closed.
 */
export function relay(a: Duplex, b: Duplex, bucket: TokenBucket, onClose: () => void, onBytes?: (n: number) => void): void {
  const stops = [pump(a, b, bucket, onBytes), pump(b, a, bucket, onBytes)]
  let closed = 0
  const destroyBoth = (): void => {
    a.destroy()
    b.destroy()
  }
  const onSideClose = (other: Duplex) => (): void => {
    closed += 1
    if (closed === 2) {
      for (const stop of stops) stop()
      onClose()
      return
    }
    if (!other.writableEnded) other.end()
    setTimeout(() => other.destroy(), LINGER_MS).unref()
  }
  a.on('error', destroyBoth)
  b.on('error', destroyBoth)
  for (const [side, other] of [[a, b], [b, a]] as const) {
    if (side.closed) onSideClose(other)()
    else side.once('close', onSideClose(other))
  }
}
