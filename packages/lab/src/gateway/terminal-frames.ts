import type { EndedReason } from '../store/types.ts'
import type { TimeoutReason } from './session-deadline.ts'

/**
 * The JSON control frames the gateway sends a terminal client (docs/api.md, "Terminal"): one
 * declaration, so the gateway, the SDK's reader and the docs name the same fields.
 */
export type TerminalControlFrame =
  /** The session ended; `reason` is its `endedReason`. Sent before the socket closes. */
  | { readonly type: 'exit'; readonly code: number | null; readonly reason: EndedReason }
  /** The session ends by `reason` in `inS` seconds unless it is used (or kept alive) before. */
  | { readonly type: 'expiring'; readonly reason: TimeoutReason; readonly inS: number }
  /** A control message the gateway could not read; the socket stays open. */
  | { readonly type: 'error'; readonly code: 'bad_message'; readonly message: string }

export function controlFrame(frame: TerminalControlFrame): string {
  return JSON.stringify(frame)
}
