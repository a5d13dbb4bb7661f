/** One piece of a process's output: which fd, the bytes, and where they start in its output. */
export interface RingChunk {
  readonly fd: number
  readonly data: Buffer
  readonly offset: number
}

/** Small writes are joined into chunks up to this size, so tiny writes do not cost a chunk each. */
const JOIN_BYTES = 16 * 1024
/** Chunks kept at most, whatever their size (alternating stdout and stderr bytes cannot be joined). */
export const MAX_RING_CHUNKS = 4096

/**
 * The newest output of one process, stdout and stderr in the order they came, addressed by
 * absolute byte offsets: a reader keeps its offset, and one that fell behind what is still
 * kept skips ahead to the oldest byte kept.
 */
export class OutputRing {
  private chunks: RingChunk[] = []
  private head = 0
  /** Offset of the oldest byte kept. */
  start = 0
  /** Offset just past the newest byte. */
  end = 0

  get bytes(): number {
    return this.end - this.start
  }

  /**
   * Keeps `data`, which the caller must not change: by reference when it is a whole buffer of
   * its own (a pipe read is), else a copy, so a small view never pins a larger buffer. Returns
   * the bytes dropped to stay within MAX_RING_CHUNKS.
   */
  append(fd: number, data: Buffer): number {
    if (data.length === 0) return 0
    const last = this.chunks.length > this.head ? this.chunks[this.chunks.length - 1]! : undefined
    if (last && last.fd === fd && last.data.length + data.length <= JOIN_BYTES) {
      this.chunks[this.chunks.length - 1] = { fd, data: Buffer.concat([last.data, data]), offset: last.offset }
    } else {
      const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
      this.chunks.push({ fd, data: own ? data : Buffer.from(data), offset: this.end })
    }
    this.end += data.length
    let dropped = 0
    while (this.chunks.length - this.head > MAX_RING_CHUNKS) dropped += this.dropOldest(this.chunks[this.head]!.data.length)
    return dropped
  }

  /** Drops at least `bytes` of the oldest output (less when less is kept); returns how many. */
  dropOldest(bytes: number): number {
    let dropped = 0
    while (dropped < bytes && this.head < this.chunks.length) {
      const first = this.chunks[this.head]!
      const n = Math.min(first.data.length, bytes - dropped)
      if (n === first.data.length) this.head++
      else this.chunks[this.head] = { fd: first.fd, data: first.data.subarray(n), offset: first.offset + n }
      dropped += n
    }
    this.start += dropped
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head)
      this.head = 0
    }
    return dropped
  }

  /** The kept bytes from `cursor` to the end of the chunk holding it, or undefined at the end. */
  at(cursor: number): { fd: number; data: Buffer; next: number } | undefined {
    const from = Math.max(cursor, this.start)
    if (from >= this.end) return undefined
    let lo = this.head
    let hi = this.chunks.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.chunks[mid]!.offset <= from) lo = mid
      else hi = mid - 1
    }
    const c = this.chunks[lo]!
    return { fd: c.fd, data: c.data.subarray(from - c.offset), next: c.offset + c.data.length }
  }

  clear(): number {
    const dropped = this.bytes
    this.chunks = []
    this.head = 0
    this.start = this.end
    return dropped
  }
}
