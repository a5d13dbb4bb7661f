import { performance } from 'node:perf_hooks'
import type { LabClient } from '../client/client.ts'

export interface StartupSample {
  /** POST /v1/sessions to the first terminal byte on the WebSocket, in ms. */
  readonly totalMs: number
  /** Gateway-side claim time (timings.claimMs). */
  readonly claimMs: number
  readonly warm: boolean
}

/** One end-to-end session start: POST, open the terminal, wait for the first byte; then end it. */
export async function measureStart(client: LabClient, pool: string, user: string): Promise<StartupSample> {
  const t0 = performance.now()
  const s = await client.createSession({ user, pool })
  const ws = client.openTerminal(s.attach)
  const totalMs = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`no prompt byte from session ${s.id} within 10 s`))
    }, 10_000)
    ws.on('message', (_d, isBinary) => {
      if (!isBinary) return
      clearTimeout(timer)
      resolve(performance.now() - t0)
    })
    ws.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
  ws.close()
  await client.deleteSession(s.id)
  return { totalMs, claimMs: s.timings.claimMs ?? Number.NaN, warm: s.warm }
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
