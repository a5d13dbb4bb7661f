import { InfraLabError, readSse, type InfraLab, type SseEvent } from '@infra-lab/sdk'

/** One entry of GET /v1/events (`data:` of its SSE event). */
export interface LabEvent {
  readonly id: number
  readonly type: string
  readonly at: string
  readonly pool?: string
  readonly user?: string
  readonly sessionId?: string
  readonly data: Readonly<Record<string, unknown>>
}

/** `live` while a stream is open; `unavailable`: the gateway has none for this key (the page polls instead). */
export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'unavailable'

export interface LiveEventsHandlers {
  readonly onEvent: (e: LabEvent) => void
  readonly onState?: (state: LiveState) => void
  /** The wait before the n-th reconnect in a row, in ms (default 1 s, doubling up to 30 s). */
  readonly retryDelayMs?: (attempt: number) => number
}

const MAX_RETRY_DELAY_MS = 30_000
const defaultDelay = (attempt: number) => Math.min(MAX_RETRY_DELAY_MS, 1000 * 2 ** (attempt - 1))

/**
 * Follows the gateway's event stream with the SDK (a fetch with the key in the Authorization
 * header: EventSource cannot send one, and a key in the URL would end up in logs). After a break
 * it reconnects with `Last-Event-ID`, so the gateway replays what was missed. A gateway without
 * the stream (404), or a key it refuses (401, 403), ends it quietly: the page keeps polling.
 * Returns the function that stops it.
 */
export function followEvents(lab: InfraLab, h: LiveEventsHandlers): () => void {
  const stop = new AbortController()
  const delay = h.retryDelayMs ?? defaultDelay
  let lastEventId: string | undefined
  let attempt = 0

  const take = (e: SseEvent) => {
    if (e.id !== undefined) lastEventId = e.id
    let event: LabEvent
    try {
      event = JSON.parse(e.data) as LabEvent
    } catch {
      return // a line this page cannot read is skipped, not fatal
    }
    h.onEvent(event)
  }

  void (async () => {
    h.onState?.('connecting')
    while (!stop.signal.aborted) {
      try {
        const body = await lab.eventStream({ signal: stop.signal, ...(lastEventId !== undefined ? { lastEventId } : {}) })
        attempt = 0
        h.onState?.('live')
        await readSse(body, take)
      } catch (err) {
        if (stop.signal.aborted) return
        if (err instanceof InfraLabError && [401, 403, 404].includes(err.status)) {
          h.onState?.('unavailable')
          return
        }
      }
      if (stop.signal.aborted) return
      attempt += 1
      h.onState?.('reconnecting')
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay(attempt))
        stop.signal.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
      })
    }
  })()
  return () => stop.abort()
}
