import { performance } from 'node:perf_hooks'
import type { CreateSessionRequest, LabClient } from '../client/client.ts'

export interface StartupSample {
  /** POST /v1/sessions to the first terminal byte on the WebSocket, in ms. */
  readonly totalMs: number
  /** The steps of totalMs, as the client sees them: the POST's answer, the WebSocket's upgrade, the first byte after it. */
  readonly postMs: number
  readonly openMs: number
  readonly byteMs: number
  /** Gateway-side claim time (timings.claimMs). */
  readonly claimMs: number
  /** The gateway's timings of the start: the claim path's, and the agent's answer (`agentReadyMs`, `agentApplyMs`). */
  readonly timings: Readonly<Record<string, number>>
  readonly warm: boolean
}

/** A hang, not a slow start: a prompt that has not come by then never will. */
const FIRST_BYTE_TIMEOUT_MS = 30_000

/** One end-to-end session start: POST (with `extra` fields such as a network policy), open the terminal, wait for the first byte; then end it. */
export async function measureStart(client: LabClient, pool: string, user: string, extra: Partial<CreateSessionRequest> = {}): Promise<StartupSample> {
  const t0 = performance.now()
  const s = await client.createSession({ ...extra, user, pool })
  const tPost = performance.now()
  const ws = client.openTerminal(s.attach)
  let tOpen = Number.NaN
  ws.once('open', () => { tOpen = performance.now() })
  const tByte = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`no prompt byte from session ${s.id} within ${FIRST_BYTE_TIMEOUT_MS / 1000} s`))
    }, FIRST_BYTE_TIMEOUT_MS)
    let exit = ''
    ws.on('message', (d, isBinary) => {
      if (!isBinary) {
        exit = String(d)
        return
      }
      clearTimeout(timer)
      resolve(performance.now())
    })
    ws.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    // A session that ended before its first byte (e.g. claim_failed) says so at once.
    ws.on('close', (code) => {
      clearTimeout(timer)
      reject(new Error(`session ${s.id}: the terminal closed (${code}) before the first byte${exit ? `: ${exit}` : ''}`))
    })
  })
  ws.close()
  // After the timed steps: the gateway stored the agent's part with `running`, before the prompt's first byte.
  const seen = await client.getSession(s.id)
  await client.deleteSession(s.id)
  return {
    totalMs: tByte - t0, postMs: tPost - t0, openMs: tOpen - tPost, byteMs: tByte - tOpen,
    claimMs: s.timings.claimMs ?? Number.NaN, timings: { ...s.timings, ...seen.timings }, warm: s.warm,
  }
}

/** Waits until the pool holds at least `ready` ready sandboxes (pacing claims by the refill). */
export async function waitForReady(client: LabClient, pool: string, ready: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const p = await client.pool(pool)
    if (p.status.ready >= ready) return
    if (Date.now() > deadline) {
      throw new Error(`pool ${pool} reached ${p.status.ready}/${ready} ready sandboxes in ${timeoutMs} ms${p.status.lastError ? `: ${p.status.lastError}` : ''}`)
    }
    await new Promise((r) => setTimeout(r, 10))
  }
}
