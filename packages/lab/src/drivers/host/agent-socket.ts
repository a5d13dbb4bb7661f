import { watch } from 'node:fs'
import { lstat } from 'node:fs/promises'
import { Socket } from 'node:net'
import { basename, dirname } from 'node:path'
import { AgentChannel, ChannelProtocolError } from '../channel.ts'
import { DriverError } from '../types.ts'
import type { RuntimeLayout } from './layout.ts'
import type { MountAddon } from './mounts.ts'
import { sleep } from './sleep.ts'
import { unmountAll } from './mounts.ts'

const POLL_MS = 25
/** The agent's socket file inside its socket dir (both sides agree on it). */
export const AGENT_SOCKET_NAME = 'agent.sock'
/** The agent's socket dir is a tmpfs of this size: the sandbox can write there, so it is bounded. */
export const SOCKET_DIR_BYTES = 1024 * 1024
const CONNECT_TIMEOUT_MS = 5_000

/** Who listens on a socket the gateway connected to (SO_PEERCRED, in the gateway's namespaces). */
export interface AgentPeer {
  readonly pid: number
  readonly uid: number
}

/**
 * Says whether the listener is really inside the expected sandbox: undefined when it is, else why
 * not. Every sandbox shares one host uid, so this must rest on something the sandbox cannot
 * forge (the listener's process ancestry or cgroup), never on the uid alone.
 */
export type PeerCheck = (peer: AgentPeer) => Promise<string | undefined>

/**
 * Makes the sandbox's socket dir (owned by the sandbox uid, bound at /run/agent inside) a small
 * tmpfs of its own, so what the sandbox writes there is bounded and never reaches the host's disk.
 */
export function mountSocketDir(addon: MountAddon, layout: RuntimeLayout, id: string, uid: number): void {
  addon.mountTmpfs(layout.sockDir(id), SOCKET_DIR_BYTES, uid, 0o700)
}

export function unmountSocketDir(addon: MountAddon, layout: RuntimeLayout, id: string): void {
  unmountAll(addon, layout.sockDir(id))
}

/** Resolves once `path` exists (fs.watch on its directory, with a poll as fallback); false at the deadline. Follows nothing. */
export async function waitForPath(path: string, deadline: number): Promise<boolean> {
  const exists = () => lstat(path).then(() => true, () => false)
  if (await exists()) return true
  let wake: (() => void) | undefined
  let watcher
  try {
    watcher = watch(dirname(path), (_event, name) => {
      if (name === null || name === basename(path)) wake?.()
    })
  } catch {
    // no inotify: the poll alone will do
  }
  try {
    while (Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, Math.min(POLL_MS, Math.max(0, deadline - Date.now())))
      })
      if (await exists()) return true
    }
    return false
  } finally {
    watcher?.close()
  }
}

/** Errors worth another try while the agent starts: nothing listens yet, or its backlog is full. */
const RETRYABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EAGAIN'])

export interface AgentEndpoint {
  readonly addon: MountAddon
  /** Host directory holding the agent's socket (a root-owned path down to it). */
  readonly sockDir: string
  readonly sandboxId: string
  readonly checkPeer: PeerCheck
}

/**
 * Connects to the agent's socket without following anything the sandbox may have put in its
 * socket dir (a symlink to another sandbox's socket is refused: not a socket inode), checks that
 * the listener is inside the sandbox, then waits for a hello that names the sandbox. Retries
 * while the agent is not listening yet. A listener outside the sandbox, or a hello for another
 * sandbox, is a DriverError('protocol_error'): the sandbox is compromised, not slow.
 */
export async function openAgentChannel(ep: AgentEndpoint, deadline: number): Promise<AgentChannel> {
  for (;;) {
    let conn: { fd: number; pid: number; uid: number }
    try {
      conn = ep.addon.connectNoFollow(ep.sockDir, AGENT_SOCKET_NAME)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? ''
      if (RETRYABLE.has(code) && Date.now() + 10 < deadline) {
        await sleep(10)
        continue
      }
      if (code === 'ENOTSOCK' || code === 'ELOOP') throw new DriverError('protocol_error', `sandbox ${ep.sandboxId}: its agent socket was replaced by something that is not a socket`, { cause: err })
      throw err
    }
    const socket = new Socket({ fd: conn.fd, readable: true, writable: true })
    const refused = await ep.checkPeer({ pid: conn.pid, uid: conn.uid }).catch((err: unknown) => `peer check failed: ${String(err)}`)
    if (refused !== undefined) {
      socket.destroy()
      throw new DriverError('protocol_error', `sandbox ${ep.sandboxId}: the process listening on its agent socket is not its agent (${refused})`)
    }
    try {
      return await AgentChannel.open(socket, Math.max(1, deadline - Date.now()), { sandboxId: ep.sandboxId, peerPid: conn.pid })
    } catch (err) {
      if (err instanceof ChannelProtocolError) throw new DriverError('protocol_error', `sandbox ${ep.sandboxId}: ${err.message}`, { cause: err })
      throw err
    }
  }
}

/** `connect` of the host drivers: the agent's hello within a few seconds, as DriverError otherwise. */
export async function connectHostAgent(ep: AgentEndpoint): Promise<AgentChannel> {
  try {
    return await openAgentChannel(ep, Date.now() + CONNECT_TIMEOUT_MS)
  } catch (err) {
    if (err instanceof DriverError) throw err
    throw new DriverError('unavailable', `sandbox ${ep.sandboxId}: cannot reach the agent: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Waits for a new sandbox's agent: its socket, then a checked hello on one connection, which it
 * closes. `logTail` explains a timeout.
 */
export async function awaitAgentHello(ep: AgentEndpoint, deadline: number, logTail: () => Promise<string>): Promise<void> {
  if (!(await waitForPath(`${ep.sockDir}/${AGENT_SOCKET_NAME}`, deadline))) {
    throw new DriverError('hello_timeout', `sandbox ${ep.sandboxId}: no agent socket by the deadline; agent log: ${await logTail()}`)
  }
  let channel: AgentChannel
  try {
    channel = await openAgentChannel(ep, deadline)
  } catch (err) {
    if (err instanceof DriverError) throw err
    throw new DriverError('hello_timeout', `sandbox ${ep.sandboxId}: ${(err as Error).message}`, { cause: err })
  }
  channel.close()
}
