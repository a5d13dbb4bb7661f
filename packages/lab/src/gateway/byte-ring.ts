/** The last `capacity` bytes written, as one buffer on demand. */
export class ByteRing {
  private chunks: Buffer[] = []
  private size = 0

  constructor(private readonly capacity: number) {}

  push(data: Buffer): void {
    this.chunks.push(data)
    this.size += data.length
    while (this.size - this.chunks[0]!.length >= this.capacity) this.size -= this.chunks.shift()!.length
  }

  contents(): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size)
    return all.length > this.capacity ? all.subarray(all.length - this.capacity) : all
  }
}
