import type { OpRequest } from '@infra-lab/protocol'
import { FrameKind, decodeCredit, decodeStream } from '@infra-lab/protocol/frame'
import type { ClaimContext } from './exec-env.ts'
import type { OpsSink } from './op-link.ts'
import type { OpsConnection, OpsServer } from './ops-server.ts'

/** The operations of one gateway connection, as the agent server hands them over. */
export interface OpsChannel {
  request(m: OpRequest): void
  /** A STREAM or CREDIT frame from the gateway, as it came. */
  frame(kind: number, payload: Buffer): void
  /** The connection closed: its operations are cancelled and go quiet. */
  close(): void
}

/**
 * Where the agent server hands the gateway's operations: an OpsServer in this process (the
 * agent runs as the sandbox's user), or a relay to a worker running as the user (the agent is
 * root: user-worker.ts). Each gateway connection gets its own channel.
 */
export interface OpsEndpoint {
  /** A gateway connection; its answers go to `sink` only. */
  connect(sink: OpsSink): OpsChannel
  /** The claim being applied; `uid` is set when the operations must drop to it. */
  setClaim(claim: Promise<(ClaimContext & { readonly uid?: number }) | undefined>): void
}

/** The endpoint of an agent that runs as the user itself. */
export function localEndpoint(server: OpsServer): OpsEndpoint {
  return {
    connect: (sink) => {
      const conn = server.connect(sink)
      return { request: (m) => conn.request(m), frame: (kind, payload) => deliverFrame(conn, kind, payload), close: () => conn.close() }
    },
    setClaim: (claim) => server.setClaim(claim),
  }
}

/** Hands a STREAM or CREDIT frame to a connection's operations; a malformed one is dropped (the gateway never sends one). */
export function deliverFrame(server: Pick<OpsConnection, 'stream' | 'credit'>, kind: number, payload: Buffer): void {
  if (kind === FrameKind.STREAM) {
    const f = decodeStream(payload)
    if (f) server.stream(f.opId, f.fd, f.data)
  } else if (kind === FrameKind.CREDIT) {
    const f = decodeCredit(payload)
    if (f) server.credit(f.opId, f.fd, f.bytes)
  }
}
