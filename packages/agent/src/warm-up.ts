import { constants, open, rmSync } from 'node:fs'
import { Socket } from 'node:net'
import { promisify } from 'node:util'
import { encodeControl, gatewayMessageSchema } from '@infra-lab/protocol'
import { buildClaimScript } from './claim-script.ts'

const openFd = promisify(open)

/**
 * Runs the claim path's code once on a dummy claim at start-up (warm time), so the real claim
 * does not pay first-call costs: zod compiling its parsers, V8 compiling our functions, libuv
 * starting its thread pool. Measured: ~2.5 ms of a cold claim was validation alone.
 */
export async function warmUpClaimPath(scratchFifo: string): Promise<void> {
  const sample = {
    type: 'claim', sessionId: 'warm-up', user: 'warm-up', home: '/nonexistent',
    env: { A: "x'y" }, secrets: { B: 'z' }, cols: 80, rows: 24,
  }
  for (let i = 0; i < 3; i++) {
    const parsed = gatewayMessageSchema.safeParse(JSON.parse(JSON.stringify(sample)))
    if (parsed.success && parsed.data.type === 'claim') buildClaimScript(parsed.data)
  }
  gatewayMessageSchema.safeParse({ type: 'claim' }) // the error path too
  encodeControl({ type: 'ready', sessionId: 'warm-up', applyMs: 0 })
  // A FIFO opened read-write never blocks and never has a reader of ours: exercises the same
  // open + libuv pipe write + close as the claim, without touching the shell's FIFO.
  const fd = await openFd(scratchFifo, constants.O_RDWR | constants.O_NONBLOCK)
  await new Promise<void>((resolve) => {
    const pipe = new Socket({ fd, readable: false, writable: true })
    pipe.once('error', () => resolve())
    pipe.write('warm-up', () => {
      pipe.destroy()
      resolve()
    })
  })
  rmSync(scratchFifo, { force: true })
}
