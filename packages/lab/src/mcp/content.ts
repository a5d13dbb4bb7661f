// How bytes cross the MCP boundary. Tool results are JSON text an agent reads, so file contents
// go as text when they are UTF-8 and as base64 otherwise, and every size is bounded: a tool that
// returned a 1 GiB file or a 16 MiB log would fill the agent's context and the transport.

/** The most read_file returns and write_file accepts (bytes); larger files: the SDK or `infra-lab cp`. */
export const MCP_MAX_FILE_BYTES = 4 * 1024 * 1024

/** The most of each exec stream returned (characters): the head and the tail, the middle elided. */
export const MCP_MAX_STREAM_CHARS = 100_000

/** Longest write_file content string: MCP_MAX_FILE_BYTES in base64 (text is at most as long). */
export const MCP_MAX_CONTENT_CHARS = Math.ceil(MCP_MAX_FILE_BYTES / 3) * 4

export type FileEncoding = 'utf8' | 'base64'

export interface EncodedContent {
  readonly encoding: FileEncoding
  readonly content: string
  /** Bytes of the file that `content` holds. */
  readonly bytes: number
}

/**
 * Text when the bytes are valid UTF-8, base64 otherwise. `cut` says the bytes are a prefix of
 * something longer: a multi-byte character split at the cut is dropped rather than making the
 * whole prefix look binary.
 */
export function encodeContent(bytes: Uint8Array, cut: boolean): EncodedContent {
  const whole = cut ? bytes.subarray(0, bytes.length - splitTail(bytes)) : bytes
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(whole)
    return { encoding: 'utf8', content: text, bytes: whole.length }
  } catch {
    return { encoding: 'base64', content: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64'), bytes: bytes.length }
  }
}

/** Bytes at the end of `b` that begin a UTF-8 sequence the buffer does not finish (0-3). */
function splitTail(b: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, b.length); back++) {
    const byte = b[b.length - back]!
    if ((byte & 0xc0) === 0x80) continue // a continuation byte: look further back for the lead
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1
    return need > back ? back : 0
  }
  return 0
}

/** Strict base64 (RFC 4648, padded): Buffer.from would silently skip bad characters. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** write_file's content as bytes, or a message saying what is wrong with it. */
export function decodeContent(content: string, encoding: FileEncoding): { bytes: Uint8Array } | { error: string } {
  let bytes: Buffer
  if (encoding === 'base64') {
    const compact = content.replace(/\s+/g, '')
    if (!BASE64.test(compact)) return { error: 'content is not valid base64 (A-Z a-z 0-9 + /, padded with = to a multiple of 4); send text with encoding "utf8" instead' }
    bytes = Buffer.from(compact, 'base64')
  } else {
    bytes = Buffer.from(content, 'utf8')
  }
  if (bytes.length > MCP_MAX_FILE_BYTES) {
    return { error: `content is ${bytes.length} bytes; write_file takes at most ${MCP_MAX_FILE_BYTES} (write larger files with \`infra-lab cp\` or the SDK, or in parts with exec)` }
  }
  return { bytes }
}

/**
 * At most `max` characters of a command's output, kept as it streams in: the head and the tail,
 * which is where the command line and the error usually are, with a marker saying how much was
 * left out. Memory stays bounded by `max` however much the command prints.
 */
export class OutputClip {
  private head = ''
  private tail = ''
  private total = 0
  private readonly headMax: number
  private readonly tailMax: number

  constructor(private readonly max = MCP_MAX_STREAM_CHARS) {
    this.headMax = Math.floor(max / 4)
    this.tailMax = max - this.headMax
  }

  push(chunk: string): void {
    this.total += chunk.length
    if (this.head.length < this.headMax) {
      const take = this.headMax - this.head.length
      this.head += chunk.slice(0, take)
      chunk = chunk.slice(take)
    }
    this.tail += chunk
    // trimmed in batches, so a stream of small chunks is not copied once per chunk
    if (this.tail.length > 2 * this.tailMax) this.tail = this.tail.slice(-this.tailMax)
  }

  result(): { text: string; clipped: boolean } {
    if (this.total <= this.max) return { text: this.head + this.tail, clipped: false }
    let head = this.head
    let tail = this.tail.slice(-this.tailMax)
    // never split a surrogate pair (an emoji cut in half is not valid text)
    if (isHighSurrogate(head.charCodeAt(head.length - 1))) head = head.slice(0, -1)
    if (isLowSurrogate(tail.charCodeAt(0))) tail = tail.slice(1)
    const omitted = this.total - head.length - tail.length
    return { text: `${head}\n[... ${omitted} characters omitted: redirect the output to a file and read parts of it ...]\n${tail}`, clipped: true }
  }
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff
const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff
