import { StringDecoder } from 'node:string_decoder'
import type { OutputChunk, OutputStream } from '../drivers/agent-ops.ts'

/** What a foreground exec's JSON answer keeps of each stream; the rest is read and dropped. */
export const MAX_KEPT_BYTES_PER_STREAM = 16 * 1024 * 1024

export type OutputEncoding = 'utf8' | 'base64'
type StreamName = OutputChunk['stream']

/**
 * Turns one stream's chunks into text. UTF-8 is decoded across chunk boundaries (a character
 * split between two chunks comes out whole with the second); base64 encodes each chunk alone.
 */
export class ChunkText {
  private readonly decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') }
  constructor(private readonly encoding: OutputEncoding) {}

  write(stream: StreamName, data: Buffer): string {
    return this.encoding === 'base64' ? data.toString('base64') : this.decoders[stream].write(data)
  }

  /** What a stream still holds at its end (the replacement character for a cut sequence). */
  end(stream: StreamName): string {
    return this.encoding === 'base64' ? '' : this.decoders[stream].end()
  }
}

/**
 * Reads the whole output, keeping at most `maxBytes` per stream. Reading on past the cap keeps
 * the process running (its pipe never fills) until it exits or times out. A stream cut at the
 * cap loses its trailing partial UTF-8 sequence rather than ending in a replacement character.
 */
export async function collectOutput(output: OutputStream, encoding: OutputEncoding, maxBytes = MAX_KEPT_BYTES_PER_STREAM): Promise<{ stdout: string; stderr: string; truncated: boolean }> {
  const kept: Record<StreamName, Buffer[]> = { stdout: [], stderr: [] }
  const size: Record<StreamName, number> = { stdout: 0, stderr: 0 }
  const cut: Record<StreamName, boolean> = { stdout: false, stderr: false }
  for await (const chunk of output as AsyncIterable<OutputChunk>) {
    const s = chunk.stream
    const room = maxBytes - size[s]
    if (chunk.data.length > room) cut[s] = true
    if (room <= 0) continue
    // a copy: the chunk may be a view into a much larger socket read
    const part = Buffer.from(chunk.data.subarray(0, room))
    kept[s].push(part)
    size[s] += part.length
  }
  const text = (s: StreamName): string => {
    const bytes = Buffer.concat(kept[s])
    if (encoding === 'base64') return bytes.toString('base64')
    const d = new StringDecoder('utf8')
    return d.write(bytes) + (cut[s] ? '' : d.end())
  }
  return { stdout: text('stdout'), stderr: text('stderr'), truncated: cut.stdout || cut.stderr }
}
