import { BadResponseError, GatewayUnreachableError, InfraLabError } from './errors.ts'
import type { Transport } from './http.ts'
import { SseParser } from './sse.ts'
import type { LabEvent, LabEventType } from './types.ts'

export interface EventsOptions {
  /** Start after this event (what `id` the last event seen had): the gateway replays what came after it (kept 24 h). */
  readonly lastEventId?: string | number
  /** Only these types. */
  readonly types?: readonly LabEventType[]
  readonly signal?: AbortSignal
  /**
   * When the stream breaks (the gateway restarted, cut off a reader that fell behind, the network
   * failed), connect again after the last event seen, so nothing is lost or repeated. Default true;
   * false ends the iteration with the stream.
   */
  readonly reconnect?: boolean
}

/** The first wait before reconnecting; it doubles while connecting fails, up to the cap. */
const RECONNECT_FIRST_MS = 500
const RECONNECT_MAX_MS = 30_000

/** Reads GET /v1/events (with the Authorization header: a key never goes in a URL) as an async iterable. */
export async function* readEvents(t: Transport, opts: EventsOptions = {}): AsyncGenerator<LabEvent> {
  let last = opts.lastEventId === undefined ? undefined : String(opts.lastEventId)
  let wait = RECONNECT_FIRST_MS
  for (;;) {
    let res: Response
    try {
      res = await t.send('GET', '/v1/events', {
        query: { types: opts.types?.join(',') },
        headers: { accept: 'text/event-stream', ...(last !== undefined ? { 'last-event-id': last } : {}) },
        ...(opts.signal ? { signal: opts.signal } : {}),
      })
    } catch (err) {
      if (opts.reconnect === false || opts.signal?.aborted || !retryable(err)) throw err
      await sleep(retryAfterMs(err) ?? wait, opts.signal)
      wait = Math.min(RECONNECT_MAX_MS, wait * 2)
      continue
    }
    wait = RECONNECT_FIRST_MS
    if (!res.body) throw new BadResponseError('the gateway answered the event stream without a body', { status: res.status })
    const reader = res.body.getReader()
    const parser = new SseParser()
    try {
      for (;;) {
        const { done, value } = await reader.read()
        for (const e of done ? parser.end() : parser.push(value)) {
          let event: LabEvent
          try {
            event = JSON.parse(e.data) as LabEvent
          } catch {
            throw new BadResponseError(`an event whose data is not JSON: ${e.data.slice(0, 200)}`)
          }
          if (e.id !== undefined) last = e.id
          yield event
        }
        if (done) break
      }
    } catch (err) {
      // a stream cut mid-way is a reason to reconnect; anything else (abort, bad data) is the caller's
      if (opts.signal?.aborted || err instanceof BadResponseError) throw err
      if (opts.reconnect === false) throw new GatewayUnreachableError(`the event stream broke: ${(err as Error).message}`, { cause: err })
    } finally {
      await reader.cancel().catch(() => undefined)
    }
    if (opts.reconnect === false) return
    await sleep(wait, opts.signal)
  }
}

/** Worth connecting again: the gateway is unreachable (restarting), busy (429) or unavailable (503). */
function retryable(err: unknown): boolean {
  if (err instanceof GatewayUnreachableError) return true
  return err instanceof InfraLabError && (err.status === 429 || err.status === 503)
}

function retryAfterMs(err: unknown): number | undefined {
  const s = err instanceof InfraLabError ? err.retryAfterS : undefined
  return s === undefined ? undefined : s * 1000
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
