/** One server-sent event: its `event` name (default `message`) and its data lines joined by `\n`. */
export interface SseEvent {
  readonly event: string
  readonly data: string
  readonly id?: string
}

/**
 * Parses a text/event-stream as the HTML standard says: UTF-8 decoded across chunk boundaries,
 * lines ended by CRLF, LF or CR (even when a chunk ends between CR and LF), comment lines
 * (`:` first) skipped, several `data:` lines of one event joined with `\n`, an event dispatched
 * at its blank line. An event left unfinished when the stream ends is dropped, as a browser
 * does.
 */
export class SseParser {
  private out: SseEvent[] = []
  private readonly decoder = new TextDecoder('utf-8')
  private buffer = ''
  private pendingCr = false
  private first = true
  private event = ''
  private data: string[] = []
  private id: string | undefined

  /** The events this chunk completed. */
  push(chunk: Uint8Array): SseEvent[] {
    this.feed(this.decoder.decode(chunk, { stream: true }))
    return this.take()
  }

  /** The stream ended: the events the rest of its bytes complete; an unfinished one is dropped. */
  end(): SseEvent[] {
    this.feed(this.decoder.decode())
    return this.take()
  }

  private take(): SseEvent[] {
    const events = this.out
    this.out = []
    return events
  }

  private feed(text: string): void {
    if (this.first && text.length > 0) {
      this.first = false
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    // A CR that ended the previous chunk has ended its line; a LF right after it belongs to it.
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1)
    this.pendingCr = false
    const buf = this.buffer + text
    let start = 0
    for (;;) {
      const cr = buf.indexOf('\r', start)
      const lf = buf.indexOf('\n', start)
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf)
      if (end === -1) break
      this.line(buf.slice(start, end))
      if (buf[end] === '\r') {
        if (end + 1 === buf.length) this.pendingCr = true
        else if (buf[end + 1] === '\n') {
          start = end + 2
          continue
        }
      }
      start = end + 1
    }
    this.buffer = buf.slice(start)
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch()
      return
    }
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.event = value
    else if (field === 'data') this.data.push(value)
    else if (field === 'id' && !value.includes('\0')) this.id = value
    // `retry` and unknown fields mean nothing to a client that does not reconnect by itself.
  }

  private dispatch(): void {
    if (this.data.length > 0) {
      this.out.push({ event: this.event || 'message', data: this.data.join('\n'), ...(this.id !== undefined ? { id: this.id } : {}) })
    }
    this.event = ''
    this.data = []
  }
}

/**
 * Reads a response body to its end, handing each event to `onEvent` in order; a promise it
 * returns is awaited before the next read (so a slow consumer slows the stream instead of
 * queueing it), and a throw cancels the body.
 */
export async function readSse(body: ReadableStream<Uint8Array>, onEvent: (e: SseEvent) => void | Promise<void>): Promise<void> {
  const parser = new SseParser()
  const reader = body.getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      for (const e of done ? parser.end() : parser.push(value)) await onEvent(e)
      if (done) break
    }
  } catch (err) {
    await reader.cancel(err).catch(() => undefined)
    throw err
  } finally {
    reader.releaseLock()
  }
}
