import type { Logger } from 'pino'
import type { SessionRecord } from '../store/types.ts'

/** How long one agent may take to answer after a gateway restart before its session is given up. */
export const RESUME_AGENT_TIMEOUT_MS = 5_000
/** Agents reconnected at once after a restart. */
export const RESUME_CONCURRENCY = 16

export type ResumeOutcome = 'resumed' | 'ended'

/**
 * Reconnects the sessions that were running when the gateway stopped, several at a time, each
 * bounded by RESUME_AGENT_TIMEOUT_MS. `pending(id)` answers, while that runs, a promise that
 * settles once the session is resumed or ended, so a request for it can wait its turn.
 */
export class SessionResumer {
  private readonly waiting = new Map<string, { done: Promise<void>; settle: () => void }>()

  constructor(private readonly resumeOne: (s: SessionRecord) => Promise<ResumeOutcome>, private readonly logger: Logger) {}

  /** Resolves once every session has been resumed or ended. */
  async run(sessions: readonly SessionRecord[], concurrency = RESUME_CONCURRENCY): Promise<{ resumed: number; ended: number }> {
    for (const s of sessions) {
      let settle!: () => void
      const done = new Promise<void>((r) => (settle = r))
      this.waiting.set(s.id, { done, settle })
    }
    const queue = [...sessions]
    const counts = { resumed: 0, ended: 0 }
    const worker = async () => {
      for (let s = queue.shift(); s; s = queue.shift()) {
        try {
          counts[await this.resumeOne(s)]++
        } catch (err) {
          this.logger.error({ session: s.id, err: String(err) }, 'resuming a session failed')
          counts.ended++
        } finally {
          this.waiting.get(s.id)?.settle()
          this.waiting.delete(s.id)
        }
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, queue.length)) }, worker))
    return counts
  }

  /** Settles once `sessionId` is resumed or ended, or after `ms`; true when it is no longer pending. */
  async wait(sessionId: string, ms: number): Promise<boolean> {
    const w = this.waiting.get(sessionId)
    if (!w) return true
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)))
    try {
      return await Promise.race([w.done.then(() => true as const), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  isPending(sessionId: string): boolean {
    return this.waiting.has(sessionId)
  }
}
