import { FrameDecoder, FrameKind } from '@infra-lab/protocol/frame'
import { performance } from 'node:perf_hooks'
import { parseGatewayMessage } from '@infra-lab/protocol/lite'
import { log } from '../log.ts'
import type { ExecSettings } from './exec-op.ts'
import { OpsServer, type OpsConnection } from './ops-server.ts'

/** Longer than a `true` ever takes; a warm-up never holds the hello back more than this. */
const WARM_UP_DEADLINE_MS = 2000

/**
 * Runs one `true` through the whole exec path at start-up (warm time), before any claim, so a
 * session's first exec costs what later ones do: without it the first paid ~7 ms more (V8
 * compiling the op, link and helper code, the helper's checksum, the first spawn of the helper).
 * It uses an OpsServer of its own, so the process never appears in the real one's table, and a
 * claim of nobody's (home `/`, no env, no secrets): nothing of a user is in it. The agent runs
 * as the sandbox's user here, so the helper runs as that uid, as every exec will.
 */
export async function warmUpExecPath(settings: ExecSettings): Promise<void> {
  const server = new OpsServer(settings)
  server.setClaim(Promise.resolve({ sessionId: 'warm-up', user: 'warm-up', home: '/', env: {}, secrets: {} }))
  const decoder = new FrameDecoder()
  const startedAt = performance.now()
  let timer: NodeJS.Timeout | undefined
  let conn: OpsConnection | undefined
  const outcome = await new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), WARM_UP_DEADLINE_MS)
    conn = server.connect({
      write: (frame) => {
        for (const f of decoder.push(frame)) {
          if (f.kind !== FrameKind.CONTROL) continue
          const type = (JSON.parse(f.payload.toString('utf8')) as { type?: string }).type
          // Either ends the operation: an exec that could not run warmed nearly as much.
          if (type === 'exec_exit' || type === 'op_error') resolve(type)
        }
      },
    })
    const sample = { type: 'exec', opId: 1, cmd: ['true'], env: {}, stdin: false, timeoutMs: 10_000, background: false, tty: false }
    const parsed = parseGatewayMessage(JSON.parse(JSON.stringify(sample)))
    if (parsed.ok && parsed.message.type === 'exec') conn.request(parsed.message)
    else resolve('invalid')
  })
  clearTimeout(timer)
  log('exec_warmed', { outcome, ms: Math.round((performance.now() - startedAt) * 1000) / 1000 })
  // Its operations go quiet; a `true` still running past the deadline ends on its own.
  conn?.close()
}
