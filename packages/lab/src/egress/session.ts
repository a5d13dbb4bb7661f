/**
 * What the proxy keeps per bound session: the compiled policy, the credentials by host, the open
 * upstream connections (flows), the shared byte-rate bucket and the last denied attempts.
 */
import { normalizeHostName, type Credential, type NetworkPolicy } from '../spec/network-policy.ts'
import { compilePolicy, type CompiledPolicy, type CompileOptions, type DenyReason } from './policy.ts'
import { TokenBucket } from './throttle.ts'

export type Via = 'http' | 'connect' | 'transparent' | 'dns'

export interface DeniedEntry {
  /** ISO 8601 time of the attempt. */
  readonly at: string
  readonly host?: string
  readonly address?: string
  readonly port: number
  readonly reason: DenyReason
  readonly via: Via
}

/** Denied attempts kept per session (older ones drop off). */
export const DENIED_LOG_SIZE = 100

/** One open way out: what was judged, and how to cut it. */
export interface Flow {
  readonly name?: string
  /** Undefined while the name is still being resolved. */
  readonly address: string | undefined
  readonly port: number
  readonly via: Via
  close(): void
}

export interface SessionLimits {
  /** Concurrent upstream connections; one more is refused with reason 'limit'. */
  readonly maxConnections: number
  /** Bytes per second, both directions, shared by the session's connections; <= 0: no limit. */
  readonly bytesPerSec: number
}

export class Session {
  private compiled: CompiledPolicy
  private readonly log: DeniedEntry[] = []
  private readonly byHost = new Map<string, Credential[]>()
  readonly flows = new Set<Flow>()
  readonly bucket: TokenBucket

  constructor(
    readonly id: string,
    readonly pool: string,
    policy: NetworkPolicy,
    credentials: readonly Credential[],
    readonly limits: SessionLimits,
    private readonly compileOptions: CompileOptions,
    private readonly onDenied: (entry: DeniedEntry) => void,
  ) {
    this.compiled = compilePolicy(policy, compileOptions)
    this.bucket = new TokenBucket(limits.bytesPerSec)
    for (const c of credentials) {
      const host = normalizeHostName(c.host)
      if (!host) throw new Error(`credential host "${c.host}" is not a host name`)
      this.byHost.set(host, [...(this.byHost.get(host) ?? []), c])
    }
  }

  get policy(): CompiledPolicy {
    return this.compiled
  }

  /** The credentials to inject on a connection to `host`:`port` (HTTPS on 443 only). */
  credentialsFor(host: string | undefined, port: number): readonly Credential[] {
    if (host === undefined || port !== 443) return []
    return this.byHost.get(host) ?? []
  }

  get atLimit(): boolean {
    return this.flows.size >= this.limits.maxConnections
  }

  recordDenied(entry: Omit<DeniedEntry, 'at'>, now: Date = new Date()): void {
    const full: DeniedEntry = { at: now.toISOString(), ...entry }
    this.log.push(full)
    if (this.log.length > DENIED_LOG_SIZE) this.log.shift()
    try {
      this.onDenied(full)
    } catch {
      // A metrics hook that throws must not break the connection path that called it.
    }
  }

  denied(): DeniedEntry[] {
    return [...this.log]
  }

  /** Replaces the policy; closes the flows it no longer allows and returns how many. */
  setPolicy(policy: NetworkPolicy): number {
    this.compiled = compilePolicy(policy, this.compileOptions)
    let closed = 0
    for (const flow of [...this.flows]) {
      const verdict = flow.address !== undefined ? this.compiled.judgeAddress(flow.address, flow.port, flow.name)
        : flow.name !== undefined ? this.compiled.judgeName(flow.name, flow.port) : undefined
      if (!verdict?.allowed) {
        this.flows.delete(flow)
        flow.close()
        closed += 1
      }
    }
    return closed
  }

  closeAll(): void {
    for (const flow of [...this.flows]) flow.close()
    this.flows.clear()
  }
}
