/**
 * The one place the proxy opens connections out: judge the name, resolve it here, judge each
 * address, and connect to exactly an address that passed, judged once more right before the
 * connect (a policy replaced meanwhile counts). Every way in (HTTP, CONNECT, transparent) comes
 * through `openUpstream`, so no path can skip a check.
 */
import { connect, type Socket } from 'node:net'
import { normalizeAddress } from './addresses.ts'
import type { DenyReason } from './policy.ts'
import type { Resolver } from './resolver.ts'
import type { Flow, Session, Via } from './session.ts'

/** An upstream connect may take this long. */
export const CONNECT_TIMEOUT_MS = 10_000
/** Addresses of one name tried before giving up. */
const MAX_ADDRESS_TRIES = 3

export interface Target {
  /** The host name asked for, if any (normalized by the caller or not: judged either way). */
  readonly name?: string
  /** The address asked for when there is no name (transparent without SNI/Host, CONNECT to an IP). */
  readonly address?: string
  readonly port: number
  readonly via: Via
}

export type Opened =
  | { readonly ok: true; readonly socket: Socket; readonly flow: MutableFlow }
  | { readonly ok: false; readonly denied: DenyReason }
  | { readonly ok: false; readonly denied?: undefined; readonly error: string }

export interface MutableFlow extends Flow {
  address: string | undefined
  /** Runs when the flow is closed (policy change, unbind): cut the client side too. */
  onClose: (() => void) | undefined
  /** The connection ended by itself: stop counting it. The caller owns this once openUpstream succeeded. */
  release(): void
}

/** Connects to `ip`:`port` if the session's policy allows it now; rejects otherwise or on failure. */
export function dialAddress(session: Session, ip: string, port: number, name: string | undefined, timeoutMs = CONNECT_TIMEOUT_MS): Promise<Socket> {
  const verdict = session.policy.judgeAddress(ip, port, name)
  if (!verdict.allowed) return Promise.reject(Object.assign(new Error(`denied: ${verdict.reason}`), { denied: verdict.reason }))
  return new Promise((resolve, reject) => {
    const socket = connect({ host: ip, port, allowHalfOpen: true, noDelay: true })
    const fail = (err: Error): void => {
      socket.destroy()
      reject(err)
    }
    socket.setTimeout(timeoutMs, () => fail(Object.assign(new Error(`connect to ${ip}:${port} timed out`), { code: 'ETIMEDOUT' })))
    socket.once('error', fail)
    socket.once('connect', () => {
      socket.setTimeout(0)
      socket.off('error', fail)
      resolve(socket)
    })
  })
}

/**
 * Judges `target` for `session`, counts it against the session's connection limit, and connects.
 * Denials are recorded in the session's log. On success the caller releases the flow when its
 * connection ends (for an injecting tunnel that is the tunnel's end, not the first upstream socket's).
 */
export async function openUpstream(session: Session, resolver: Resolver, target: Target): Promise<Opened> {
  const denied = (reason: DenyReason, resolved?: string): Opened => {
    const address = resolved ?? target.address
    session.recordDenied({
      ...(target.name !== undefined ? { host: target.name } : {}),
      ...(address !== undefined ? { address } : {}),
      port: target.port, reason, via: target.via,
    })
    return { ok: false, denied: reason }
  }
  const first = target.name !== undefined ? session.policy.judgeName(target.name, target.port)
    : session.policy.judgeAddress(target.address ?? '', target.port)
  if (!first.allowed) return denied(first.reason)
  if (session.atLimit) return denied('limit')

  let cancelled = false
  let socket: Socket | undefined
  const flow: MutableFlow = {
    ...(target.name !== undefined ? { name: target.name } : {}),
    address: target.address,
    port: target.port,
    via: target.via,
    onClose: undefined,
    close() {
      cancelled = true
      session.flows.delete(flow)
      socket?.destroy()
      flow.onClose?.()
    },
    release() {
      session.flows.delete(flow)
    },
  }
  session.flows.add(flow)
  const release = (): void => flow.release()

  let candidates: string[]
  if (target.name !== undefined) {
    let resolved: string[]
    try {
      resolved = await resolver.resolve(target.name)
    } catch {
      release()
      return denied('dns_failed')
    }
    const judged = resolved.map((ip) => ({ ip: normalizeAddress(ip) ?? ip, verdict: session.policy.judgeAddress(ip, target.port, target.name) }))
    candidates = judged.filter((j) => j.verdict.allowed).map((j) => j.ip)
    if (candidates.length === 0) {
      release()
      const firstDenied = judged[0]!
      return denied(firstDenied.verdict.allowed ? 'not_allowed' : firstDenied.verdict.reason, firstDenied.ip)
    }
  } else {
    candidates = [normalizeAddress(target.address ?? '') ?? '']
  }

  let lastError = 'no address'
  for (const ip of candidates.slice(0, MAX_ADDRESS_TRIES)) {
    if (cancelled) break
    flow.address = ip // from here a policy change judges the address being dialed
    try {
      socket = await dialAddress(session, ip, target.port, target.name)
    } catch (err) {
      const reason = (err as { denied?: DenyReason }).denied
      if (reason) {
        release()
        return denied(reason, ip)
      }
      lastError = (err as NodeJS.ErrnoException).code ?? 'connect failed'
      continue
    }
    if (cancelled) {
      socket.destroy()
      break
    }
    return { ok: true, socket, flow }
  }
  release()
  if (!cancelled) return { ok: false, error: lastError }
  // Closed while connecting: the policy changed (or the session ended) under it.
  const now = target.name !== undefined ? session.policy.judgeName(target.name, target.port) : session.policy.judgeAddress(target.address ?? '', target.port)
  return { ok: false, denied: now.allowed ? 'not_allowed' : now.reason }
}
