import type { AgentChannel } from './channel.ts'
import type { DriverName, SandboxLimits } from '../spec/pool-spec.ts'
import type { SandboxHandle } from '../spec/sandbox-handle.ts'

export type { SandboxHandle }

/** What a driver needs to start one generic (not yet user-specific) sandbox. */
export interface SandboxSpec {
  readonly id: string
  readonly pool: string
  readonly limits: SandboxLimits
  readonly network: boolean
  /** Give up (and clean up) if the agent has not said hello by then. */
  readonly helloTimeoutMs: number
}

/** Where the user's workspace appears inside the sandbox once bound. */
export interface WorkspaceBinding {
  /** Path inside the sandbox: becomes HOME and the working directory. */
  readonly home: string
}

/** Closed set of reasons a driver reports failures with (metric label values). */
export type SandboxFailureReason = 'create_failed' | 'hello_timeout' | 'exited_early' | 'unavailable' | 'capacity'
  /** The agent broke the protocol, or something else answered on its socket: the sandbox is destroyed as compromised. */
  | 'protocol_error'

export class DriverError extends Error {
  override readonly name = 'DriverError'
  constructor(readonly reason: SandboxFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

export interface SandboxDriver {
  readonly name: DriverName
  /** Checks the host can run sandboxes (binaries, privileges); throws with what to do if not. */
  init(): Promise<void>
  /** Starts a sandbox; resolves once its agent said hello. Cleans up after itself on failure. */
  create(spec: SandboxSpec): Promise<SandboxHandle>
  /** Stops the sandbox and removes everything it left (mounts, cgroups, files). Idempotent. */
  destroy(id: string): Promise<void>
  /** Every sandbox of this driver still alive, including ones started before a gateway restart. */
  list(): Promise<SandboxHandle[]>
  /** Opens a channel to the agent; the agent sends hello on every new connection. */
  connect(handle: SandboxHandle): Promise<AgentChannel>
  /** Binds `user`'s workspace into the running sandbox at claim time. */
  bindWorkspace(handle: SandboxHandle, user: string): Promise<WorkspaceBinding>
  /**
   * Optional: why the sandbox was lost, once its agent channel closed without the gateway closing
   * it. Answers 'spot_interruption' when the platform reclaimed it, undefined otherwise or when it
   * cannot tell within a short bounded wait. Never throws.
   */
  lostReason?(id: string): Promise<'spot_interruption' | undefined>
  /** Removes everything the driver ever made on this host (for `gateway --teardown`). */
  teardown(): Promise<void>
}
