/** A bounded ring of the most recent terminal bytes, replayed to a re-attaching gateway. */
export class Scrollback {
  /** Allocated on first append: a warm sandbox that is never claimed never touches it. */
  private ring: Buffer | undefined
  /** Next write position. */
  private head = 0
  /** Bytes held, at most the capacity. */
  private size = 0

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError('scrollback capacity must be a positive integer')
  }

  get length(): number {
    return this.size
  }

  append(chunk: Uint8Array): void {
    // Unzeroed: only bytes already written are ever read, and untouched pages stay unbacked.
    this.ring ??= Buffer.allocUnsafe(this.capacity)
    const data = chunk
    if (data.length >= this.capacity) {
      this.ring.set(data.subarray(data.length - this.capacity))
      this.head = 0
      this.size = this.capacity
      return
    }
    const first = Math.min(data.length, this.capacity - this.head)
    this.ring.set(data.subarray(0, first), this.head)
    this.ring.set(data.subarray(first), 0)
    this.head = (this.head + data.length) % this.capacity
    this.size = Math.min(this.capacity, this.size + data.length)
  }

  /** A copy of the held bytes, oldest first. */
  snapshot(): Buffer {
    if (!this.ring) return Buffer.alloc(0)
    if (this.size < this.capacity) return Buffer.from(this.ring.subarray(this.head - this.size, this.head))
    return Buffer.concat([this.ring.subarray(this.head), this.ring.subarray(0, this.head)])
  }

  clear(): void {
    this.head = 0
    this.size = 0
  }
}
