/**
 * The last `capacity` bytes written, copied into storage of its own (so it never pins the
 * buffers it was given) that grows by doubling up to `capacity`, then wraps around: a session that
 * prints little costs little, and a flood allocates nothing once the ring is full.
 */
export class ByteRing {
  private buf = Buffer.alloc(0)
  /** Bytes held (at most capacity) and where the next byte goes once the ring is full. */
  private size = 0
  private head = 0

  constructor(private readonly capacity: number) {}

  push(data: Buffer): void {
    if (data.length >= this.capacity) {
      this.ensure(this.capacity)
      data.copy(this.buf, 0, data.length - this.capacity)
      this.size = this.capacity
      this.head = 0
      return
    }
    if (this.size + data.length <= this.capacity && this.head === 0) {
      this.ensure(this.size + data.length)
      data.copy(this.buf, this.size)
      this.size += data.length
      if (this.size === this.capacity) this.head = 0
      return
    }
    // Full (or about to be): wrap around, overwriting the oldest bytes.
    this.ensure(this.capacity)
    if (this.size < this.capacity) {
      // The first wrap: the ring is linear up to `size`; the write starts right after it.
      this.head = this.size
      this.size = this.capacity
    }
    const first = Math.min(data.length, this.capacity - this.head)
    data.copy(this.buf, this.head, 0, first)
    data.copy(this.buf, 0, first)
    this.head = (this.head + data.length) % this.capacity
  }

  contents(): Buffer {
    if (this.size < this.capacity || this.head === 0) return Buffer.from(this.buf.subarray(0, this.size))
    return Buffer.concat([this.buf.subarray(this.head, this.capacity), this.buf.subarray(0, this.head)], this.capacity)
  }

  private ensure(bytes: number): void {
    if (this.buf.length >= bytes) return
    let n = Math.max(this.buf.length * 2, 4096)
    while (n < bytes) n *= 2
    const next = Buffer.allocUnsafe(Math.min(n, this.capacity))
    this.buf.copy(next, 0, 0, this.size)
    this.buf = next
  }
}
