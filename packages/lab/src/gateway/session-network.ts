import type { Logger } from 'pino'
import type { Credential, NetworkPolicy } from '../spec/network-policy.ts'
import { defaultNetworkPolicy, type PoolSpec } from '../spec/pool-spec.ts'
import type { SandboxHandle } from '../spec/sandbox-handle.ts'
import type { SessionRecord, Store } from '../store/types.ts'
import { ApiError } from './errors.ts'

/** One denied attempt as the proxy reports it (GET /v1/sessions/{id}/network). */
export interface DeniedAttempt {
  readonly at: string
  readonly host?: string
  readonly address?: string
  readonly port: number
  readonly reason: string
  readonly via: 'http' | 'connect' | 'transparent' | 'dns'
}

/** What the session service needs of the egress proxy (egress/proxy.ts). */
export interface EgressBinder {
  bind(sourceIp: string, session: { sessionId: string; pool: string; policy: NetworkPolicy; credentials: Credential[] }): void
  unbind(sourceIp: string): void
  setPolicy(sessionId: string, policy: NetworkPolicy): void
  denied(sessionId: string): readonly DeniedAttempt[]
}

/** Seals credential values for the store (egress/sealed.ts). */
export interface CredentialSealer {
  /** `aad` binds the sealed text to its session: a value moved to another row does not open. */
  seal(plaintext: string, aad: string): string
  open(sealed: string, aad: string): Buffer
}

/** A create's network ask, checked against its pool. */
export interface PreparedNetwork {
  /** Null: the pool has no network. */
  readonly policy: NetworkPolicy | null
  readonly credentials: Credential[]
}

export interface SessionNetworksDeps {
  readonly store: Store
  readonly logger: Logger
  /** The egress proxy a pool's sandboxes go out through (undefined: none, e.g. a fake pool, or no network). */
  readonly proxyFor: (pool: PoolSpec) => EgressBinder | undefined
  /** Whether the pool's sandboxes trust the gateway's CA, so credentials can be injected (local and Docker, not ECS). */
  readonly injects: (pool: PoolSpec) => boolean
  /** Variables a session's shell gets at claim time to find the proxy (ECS; local and Docker sandboxes have them from birth). */
  readonly claimEnv: (pool: PoolSpec) => Readonly<Record<string, string>>
  readonly poolSpec: (name: string) => PoolSpec | undefined
  readonly sealer?: CredentialSealer
}

/**
 * Binds a session's network policy and credentials to its sandbox's address at claim time (and
 * again after a restart), and changes or shows it while the session runs. The sandbox stays
 * generic until then: a warm sandbox's address is bound to nothing, so the proxy lets it reach
 * nothing.
 */
export class SessionNetworks {
  /** session id -> the sandbox address bound to it, and the proxy that holds it. */
  private readonly bound = new Map<string, { readonly ip: string; readonly proxy: EgressBinder }>()

  constructor(private readonly deps: SessionNetworksDeps) {}

  prepare(pool: PoolSpec, ask: { network?: NetworkPolicy | undefined; credentials?: Credential[] | undefined }): PreparedNetwork {
    const credentials = ask.credentials ?? []
    const wantsNetwork = (ask.network !== undefined && ask.network.egress !== 'none') || credentials.length > 0
    if (!pool.network || !this.deps.proxyFor(pool)) {
      if (wantsNetwork) {
        const why = pool.network ? `its driver (${pool.driver}) has no egress proxy` : 'it has network: false'
        throw new ApiError('network_unavailable', `pool "${pool.name}" gives its sandboxes no network: ${why}`)
      }
      return { policy: pool.network ? (ask.network ?? defaultNetworkPolicy(pool)) : null, credentials: [] }
    }
    const policy = ask.network ?? defaultNetworkPolicy(pool)!
    if (credentials.length > 0 && !this.deps.injects(pool)) {
      throw new ApiError('network_unavailable', `pool "${pool.name}" (${pool.driver}) cannot inject credentials: its sandboxes do not trust the gateway's CA`)
    }
    if (credentials.length > 0 && !this.deps.sealer) throw new ApiError('network_unavailable', 'this gateway cannot keep credentials (no egress key)')
    return { policy, credentials }
  }

  /** The credentials as the store keeps them: sealed, and bound to this session id. */
  seal(sessionId: string, prepared: PreparedNetwork): string | undefined {
    if (prepared.credentials.length === 0 || !this.deps.sealer) return undefined
    return this.deps.sealer.seal(JSON.stringify(prepared.credentials), sessionId)
  }

  /** The variables the session's shell gets with its claim (the proxy's address on ECS). */
  claimEnv(pool: PoolSpec, prepared: PreparedNetwork): Readonly<Record<string, string>> {
    return prepared.policy && this.deps.proxyFor(pool) ? this.deps.claimEnv(pool) : {}
  }

  /** At claim time, before the claim reaches the agent: the sandbox's address now speaks for this session. */
  bind(sessionId: string, pool: string, handle: SandboxHandle, prepared: PreparedNetwork): void {
    const spec = this.deps.poolSpec(pool)
    const proxy = spec ? this.deps.proxyFor(spec) : undefined
    if (!prepared.policy || !proxy) return
    const ip = egressIpOf(handle)
    if (!ip) {
      this.deps.logger.warn({ session: sessionId, sandbox: handle.id }, 'network sandbox without an egress address: it reaches nothing')
      return
    }
    proxy.bind(ip, { sessionId, pool, policy: prepared.policy, credentials: prepared.credentials })
    this.bound.set(sessionId, { ip, proxy })
  }

  /** After a gateway restart: the same binding, from the store (credentials unsealed here, never logged). */
  async rebind(session: SessionRecord, handle: SandboxHandle): Promise<void> {
    const spec = this.deps.poolSpec(session.pool)
    if (!session.network || !spec || !this.deps.proxyFor(spec)) return
    let credentials: Credential[] = []
    const sealed = await this.deps.store.getSessionCredentials(session.id)
    if (sealed && this.deps.sealer) {
      try {
        credentials = JSON.parse(this.deps.sealer.open(sealed, session.id).toString('utf8')) as Credential[]
      } catch (err) {
        this.deps.logger.error({ session: session.id, err: (err as Error).message }, 'cannot open the session\'s credentials (another key?): none are injected')
      }
    }
    this.bind(session.id, session.pool, handle, { policy: session.network, credentials })
  }

  unbind(sessionId: string): void {
    const b = this.bound.get(sessionId)
    if (b === undefined) return
    this.bound.delete(sessionId)
    b.proxy.unbind(b.ip)
  }

  /** GET /v1/sessions/{id}/network. */
  async show(session: SessionRecord): Promise<{ policy: NetworkPolicy; credentials: { host: string; header: string }[]; denied: DeniedAttempt[] }> {
    const policy = session.network ?? { egress: 'none' as const }
    let credentials: { host: string; header: string }[] = []
    const sealed = session.hasCredentials ? await this.deps.store.getSessionCredentials(session.id) : undefined
    if (sealed && this.deps.sealer) {
      try {
        credentials = (JSON.parse(this.deps.sealer.open(sealed, session.id).toString('utf8')) as Credential[]).map((c) => ({ host: c.host, header: c.header }))
      } catch {
        credentials = []
      }
    }
    return { policy, credentials, denied: [...(this.bound.get(session.id)?.proxy.denied(session.id) ?? [])] }
  }

  /** PUT /v1/sessions/{id}/network: stored first, then enforced for new connections and open ones. */
  async replace(session: SessionRecord, pool: PoolSpec | undefined, policy: NetworkPolicy): Promise<void> {
    if (session.state === 'ended') throw new ApiError('session_ended', `session ${session.id} ended (${session.endedReason})`)
    if (!pool?.network || !this.deps.proxyFor(pool) || session.network === null) {
      if (policy.egress !== 'none') throw new ApiError('network_unavailable', `the sandbox of session ${session.id} has no network`)
    }
    if (!(await this.deps.store.setSessionNetwork(session.id, policy))) {
      throw new ApiError('session_ended', `session ${session.id} ended`)
    }
    this.bound.get(session.id)?.proxy.setPolicy(session.id, policy)
    this.deps.logger.info({ session: session.id, egress: policy.egress, allow: policy.allow?.length ?? 0, deny: policy.deny?.length ?? 0 }, 'network policy replaced')
  }
}

/** The address the sandbox's connections come from: its own namespace's (local, Docker), or its task's (ECS). */
function egressIpOf(handle: SandboxHandle): string | undefined {
  const ip = handle.meta.egressIp
  if (typeof ip === 'string' && ip.length > 0) return ip
  return handle.driver === 'ecs' && handle.address.kind === 'tcp' ? handle.address.host : undefined
}
