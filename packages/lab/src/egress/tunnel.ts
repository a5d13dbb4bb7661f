/**
 * A byte tunnel from a sandbox to one judged destination, shared by CONNECT and the transparent
 * port: open the checked upstream, then either relay bytes untouched or, for a host the session
 * holds credentials for on 443, hand the connection to the injector.
 */
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import type { EgressCa } from './ca.ts'
import { openUpstream, type Target } from './dial.ts'
import type { Injector } from './inject.ts'
import type { DenyReason } from './policy.ts'
import type { Resolver } from './resolver.ts'
import type { Session } from './session.ts'
import { handOffToSplice } from './splice-relay.ts'
import { relay } from './throttle.ts'

export interface TunnelDeps {
  readonly resolver: Resolver
  readonly ca: EgressCa
  readonly injector: Injector
  readonly logger: Logger
  /** A request head (or the first bytes on the transparent port) must arrive within this time. */
  readonly headTimeoutMs: number
  /** false: pass-through tunnels always use the JS relay (tests, comparisons); default: splice(2) where it works. */
  readonly splice?: boolean
}

/** How the way in answers the client: CONNECT speaks HTTP, the transparent port only closes. */
export interface TunnelReplies {
  established(): void
  denied(reason: DenyReason): void
  failed(): void
}

/**
 * Opens `target` for `session` and joins `client` to it. `early` holds bytes the client sent
 * before the tunnel existed (a sniffed ClientHello, data after a CONNECT head): they go first.
 */
export async function runTunnel(deps: TunnelDeps, session: Session, client: Socket, target: Target, early: Buffer, replies: TunnelReplies): Promise<void> {
  client.pause()
  const opened = await openUpstream(session, deps.resolver, target)
  if (!opened.ok) {
    if (opened.denied) replies.denied(opened.denied)
    else replies.failed()
    return
  }
  const { socket: upstream, flow } = opened
  upstream.on('error', () => upstream.destroy())
  if (client.destroyed) {
    upstream.destroy()
    flow.release()
    return
  }
  const credentials = session.credentialsFor(target.name, target.port)
  if (credentials.length > 0 && target.name !== undefined) {
    const host = target.name
    try {
      const leaf = await deps.ca.leafFor(host)
      replies.established()
      if (early.length > 0) client.unshift(early)
      await deps.injector.start(client, leaf.context, upstream, session, flow, host)
    } catch (err) {
      deps.logger.info({ host, err: (err as Error).message }, 'egress: injecting tunnel failed')
      client.destroy()
      upstream.destroy()
      flow.release()
    }
    return
  }
  replies.established()
  if (early.length > 0) upstream.write(early)
  flow.onClose = () => client.destroy()
  // Without a byte rate to hold (the bucket lives in JS), the kernel moves the bytes: splice(2)
  // on the addon's threads. Anywhere it cannot (not Linux, the relay cap), the JS relay does.
  if (!session.bucket.limited && deps.splice !== false) {
    const spliced = await handOffToSplice(client, upstream, () => flow.release())
    if (spliced) {
      flow.onClose = () => spliced.close()
      return
    }
    if (client.destroyed || upstream.destroyed) {
      // closed while settling (flow.close() on a policy change, or the peer): nothing to relay
      client.destroy()
      upstream.destroy()
      flow.release()
      return
    }
  }
  relay(client, upstream, session.bucket, () => flow.release())
}
