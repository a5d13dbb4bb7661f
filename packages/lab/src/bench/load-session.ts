import { performance } from 'node:perf_hooks'
import type WebSocket from 'ws'
import { ApiRequestError, type LabClient } from '../client/client.ts'

/** The steps of one user's session, timed apart; `total` is POST to the end answered. */
export const LOAD_STEPS = ['create', 'firstByte', 'command', 'end', 'total'] as const
export type LoadStep = (typeof LOAD_STEPS)[number]

export type SessionOutcome =
  | { readonly ok: true; readonly ms: Readonly<Record<LoadStep, number>>; readonly warm: boolean }
  | {
    readonly ok: false
    /** What went wrong, from a small set: `<status> <code>` for an HTTP error, `ended: <reason>`, `timeout: <step>`, `terminal closed <code>`. */
    readonly failure: string
    /** A 503 with Retry-After: the gateway said when to try again, nothing was lost. */
    readonly retryable: boolean
    readonly retryAfterS?: number
  }

const TAIL_CHARS = 4096

/**
 * What a user does, end to end: POST /v1/sessions, open the terminal and wait for its first
 * byte, type `echo load-<n>` and wait for the line `load-<n>` to come back, then DELETE. A
 * session the gateway ends on its own (an `exit` message before the DELETE) is a failure with
 * its ended reason. Whatever happens, the session is ended and the socket closed.
 */
export async function runUserSession(client: LabClient, o: { pool: string; user: string; n: number; stepTimeoutMs: number }): Promise<SessionOutcome> {
  const t0 = performance.now()
  let created
  try {
    created = await client.createSession({ user: o.user, pool: o.pool })
  } catch (err) {
    if (!(err instanceof ApiRequestError)) return { ok: false, failure: `client error: ${(err as Error).message.split('\n')[0]}`, retryable: false }
    const retryable = err.status === 503 && err.retryAfterS !== undefined
    return { ok: false, failure: err.status === 0 ? 'unreachable' : `${err.status} ${err.code}`, retryable, ...(err.retryAfterS !== undefined ? { retryAfterS: err.retryAfterS } : {}) }
  }
  const t1 = performance.now()
  const term = new LoadTerminal(client.openTerminal(created.attach))
  let ended = false
  try {
    await term.until(() => term.bytes > 0, o.stepTimeoutMs, 'firstByte')
    const t2 = performance.now()
    term.tail = ''
    term.type(`echo load-${o.n}\r`)
    // The output line starts after CR or LF; in the echoed command line a space comes before it.
    const line = new RegExp(`[\r\n]load-${o.n}\r\n`)
    await term.until(() => line.test(term.tail), o.stepTimeoutMs, 'command')
    const t3 = performance.now()
    await client.deleteSession(created.id)
    ended = true
    const t4 = performance.now()
    return { ok: true, warm: created.warm, ms: { create: t1 - t0, firstByte: t2 - t1, command: t3 - t2, end: t4 - t3, total: t4 - t0 } }
  } catch (err) {
    return { ok: false, failure: err instanceof StepFailed ? err.message : `client error: ${(err as Error).message.split('\n')[0]}`, retryable: false }
  } finally {
    term.close()
    if (!ended) await client.deleteSession(created.id).catch(() => undefined)
  }
}

class StepFailed extends Error {}

/** The terminal WebSocket as the load client sees it: byte count, a short tail, the gateway's exit. */
class LoadTerminal {
  bytes = 0
  tail = ''
  exitReason: string | undefined
  closeCode: number | undefined
  private wake: (() => void) | undefined

  constructor(private readonly ws: WebSocket) {
    ws.on('message', (d: Buffer, binary: boolean) => {
      if (binary) {
        this.bytes += d.length
        this.tail = (this.tail + d.toString('latin1')).slice(-TAIL_CHARS)
      } else {
        try {
          const m = JSON.parse(d.toString('utf8')) as { type?: string; reason?: string }
          if (m.type === 'exit') this.exitReason = m.reason ?? 'unknown'
        } catch {
          // not ours to judge: the gateway's control frames are JSON
        }
      }
      this.wake?.()
    })
    ws.on('close', (code) => {
      this.closeCode = code
      this.wake?.()
    })
    ws.on('error', () => this.wake?.())
  }

  type(s: string): void {
    this.ws.send(Buffer.from(s), { binary: true })
  }

  /** Resolves once `done()`; fails with the session's ended reason, the close code, or a timeout. */
  until(done: () => boolean, timeoutMs: number, step: LoadStep): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (done()) return finish()
        if (this.exitReason !== undefined) return finish(new StepFailed(`ended: ${this.exitReason}`))
        if (this.closeCode !== undefined) return finish(new StepFailed(`terminal closed ${this.closeCode}`))
      }
      const timer = setTimeout(() => finish(new StepFailed(`timeout: ${step}`)), timeoutMs)
      const finish = (err?: Error) => {
        clearTimeout(timer)
        this.wake = undefined
        if (err) reject(err)
        else resolve()
      }
      this.wake = check
      check()
    })
  }

  close(): void {
    this.ws.terminate()
  }
}
