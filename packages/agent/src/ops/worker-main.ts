import { Socket } from 'node:net'
import { FrameDecoder, FrameKind } from '@infra-lab/protocol/frame'
import type { OpRequest } from '@infra-lab/protocol'
import { isOpRequestType, parseGatewayMessage } from '@infra-lab/protocol/lite'
import { MAX_GATEWAY_CONNECTIONS, MAX_OPEN_OPS } from '@infra-lab/protocol/ops-limits'
import { log } from '../log.ts'
import type { ClaimContext } from './exec-env.ts'
import { deliverFrame } from './ops-endpoint.ts'
import { OpsServer, type OpsConnection } from './ops-server.ts'

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
 * requests and frames of every gateway connection, under operation ids the agent gave them (unique
 * over the connections: user-worker.ts maps them back). It exits when stdin ends.
 */
export function runOpsWorker(settings: { helperPath: string; shellPath: string }): void {
  // Sockets on the pipes: libuv writes them without blocking (process.stdout would, on a pipe).
  const input = new Socket({ fd: 0, readable: true, writable: false })
  const output = new Socket({ fd: 1, readable: false, writable: true })
  output.on('error', () => process.exit(0))
  const sink = { write: (frame: Buffer) => void output.write(frame) }
  const decoder = new FrameDecoder()
  let conn: OpsConnection | undefined
  input.on('data', (chunk: Buffer) => {
    for (const { kind, payload } of decoder.push(chunk)) {
      if (kind !== FrameKind.CONTROL) {
        if (conn) deliverFrame(conn, kind, payload)
        continue
      }
      const message = JSON.parse(payload.toString('utf8')) as { type: string }
      if (message.type === 'worker_claim' && !conn) {
        const { claim, baseEnv } = message as WorkerClaim
        // One pipe carries every gateway connection's operations: their caps together.
        const server = new OpsServer({ ...settings, baseEnv }, MAX_OPEN_OPS * MAX_GATEWAY_CONNECTIONS)
        server.setClaim(Promise.resolve(claim))
        conn = server.connect(sink)
      } else if (conn) {
        const parsed = parseGatewayMessage(message)
        if (parsed.ok && isOpRequestType(parsed.message.type)) conn.request(parsed.message as OpRequest)
        else log('worker_bad_message', {})
      }
    }
  })
  input.on('end', () => process.exit(0))
  input.on('error', () => process.exit(0))
}
