import { Socket } from 'node:net'
import { FrameDecoder, FrameKind, encodeControl } from '@infra-lab/protocol/frame'
import type { OpRequest } from '@infra-lab/protocol'
import { isOpRequestType, parseGatewayMessage } from '@infra-lab/protocol/lite'
import { log } from '../log.ts'
import type { ClaimContext } from './exec-env.ts'
import { deliverFrame } from './ops-endpoint.ts'
import { OpsServer } from './ops-server.ts'

/** The first message a worker reads: the claim, and the environment commands start from. */
export interface WorkerClaim {
  readonly type: 'worker_claim'
  readonly claim: ClaimContext
  readonly baseEnv: Record<string, string>
}

/**
 * The user's operations worker (`agent --ops-worker`): started by a root agent through the same
 * drop to the user's uid as the shell, it runs the operations as the user and speaks the
 * operations' part of the protocol with the root agent on stdin/stdout. First it reads the
 * claim (over the pipe: nothing of it is ever in a root process's argv or environment), then
 * requests and frames; `worker_reset` (a new gateway connection) cancels every operation, and
 * `worker_reset_done` tells the agent nothing of the old ones follows. It exits when stdin ends.
 */
export function runOpsWorker(settings: { helperPath: string; shellPath: string }): void {
  // Sockets on the pipes: libuv writes them without blocking (process.stdout would, on a pipe).
  const input = new Socket({ fd: 0, readable: true, writable: false })
  const output = new Socket({ fd: 1, readable: false, writable: true })
  output.on('error', () => process.exit(0))
  const sink = { write: (frame: Buffer) => void output.write(frame) }
  const decoder = new FrameDecoder()
  let server: OpsServer | undefined
  input.on('data', (chunk: Buffer) => {
    for (const { kind, payload } of decoder.push(chunk)) {
      if (kind !== FrameKind.CONTROL) {
        if (server) deliverFrame(server, kind, payload)
        continue
      }
      const message = JSON.parse(payload.toString('utf8')) as { type: string }
      if (message.type === 'worker_claim' && !server) {
        const { claim, baseEnv } = message as WorkerClaim
        server = new OpsServer({ ...settings, baseEnv })
        server.setClaim(Promise.resolve(claim))
        server.connect(sink)
      } else if (message.type === 'worker_reset' && server) {
        server.connect(sink)
        sink.write(encodeControl({ type: 'worker_reset_done' }))
      } else if (server) {
        const parsed = parseGatewayMessage(message)
        if (parsed.ok && isOpRequestType(parsed.message.type)) server.request(parsed.message as OpRequest)
        else log('worker_bad_message', {})
      }
    }
  })
  input.on('end', () => process.exit(0))
  input.on('error', () => process.exit(0))
}
