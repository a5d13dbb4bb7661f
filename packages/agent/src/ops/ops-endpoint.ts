import type { OpRequest } from '@infra-lab/protocol'
import { FrameKind, decodeCredit, decodeStream } from '@infra-lab/protocol/frame'
import type { ClaimContext } from './exec-env.ts'
import type { OpsSink } from './op-link.ts'
import type { OpsServer } from './ops-server.ts'

/**
 * Where the agent server hands the gateway's operations: an OpsServer in this process (the
 * agent runs as the sandbox's user), or a relay to a worker running as the user (the agent is
 * root: user-worker.ts).
 */
export interface OpsEndpoint {
  /** A new gateway connection; the previous one's operations go quiet. */
  connect(sink: OpsSink): void
  disconnect(): void
  /** The claim being applied; `uid` is set when the operations must drop to it. */
  setClaim(claim: Promise<(ClaimContext & { readonly uid?: number }) | undefined>): void
  request(m: OpRequest): void
  /** A STREAM or CREDIT frame from the gateway, as it came. */
  frame(kind: number, payload: Buffer): void
}

/** The endpoint of an agent that runs as the user itself. */
export function localEndpoint(server: OpsServer): OpsEndpoint {
  return {
    connect: (sink) => server.connect(sink),
    disconnect: () => server.disconnect(),
    setClaim: (claim) => server.setClaim(claim),
    request: (m) => server.request(m),
    frame: (kind, payload) => deliverFrame(server, kind, payload),
  }
}

/** Hands a STREAM or CREDIT frame to the server; a malformed one is dropped (the gateway never sends one). */
export function deliverFrame(server: OpsServer, kind: number, payload: Buffer): void {
  if (kind === FrameKind.STREAM) {
    const f = decodeStream(payload)
    if (f) server.stream(f.opId, f.fd, f.data)
  } else if (kind === FrameKind.CREDIT) {
    const f = decodeCredit(payload)
    if (f) server.credit(f.opId, f.fd, f.bytes)
  }
}
