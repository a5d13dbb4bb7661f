import { watch } from 'node:fs'
import { access } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { basename, dirname } from 'node:path'
import { AgentChannel } from '../channel.ts'
import { DriverError, type SandboxHandle } from '../types.ts'
import { sleep } from './sleep.ts'

const POLL_MS = 25

/** Resolves once `path` exists (fs.watch on its directory, with a poll as fallback); false at the deadline. */
export async function waitForPath(path: string, deadline: number): Promise<boolean> {
  const exists = () => access(path).then(() => true, () => false)
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

function connectOnce(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path)
    s.once('connect', () => {
      s.off('error', reject)
      resolve(s)
    })
    s.once('error', reject)
  })
}

/** Connects to the agent's socket and waits for its hello; retries while it is not listening yet. */
export async function openAgentChannel(path: string, deadline: number): Promise<AgentChannel> {
  for (;;) {
    let socket: Socket
    try {
      socket = await connectOnce(path)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if ((code === 'ECONNREFUSED' || code === 'ENOENT') && Date.now() + 10 < deadline) {
        await sleep(10)
        continue
      }
      throw err
    }
    return AgentChannel.open(socket, Math.max(1, deadline - Date.now()))
  }
}

const CONNECT_TIMEOUT_MS = 5_000

/** `connect` of the drivers whose agents listen on a unix socket the host can reach. */
export async function connectUnixAgent(handle: SandboxHandle): Promise<AgentChannel> {
  if (handle.address.kind !== 'unix') throw new DriverError('unavailable', `sandbox ${handle.id} has no unix socket address`)
  try {
    return await openAgentChannel(handle.address.path, Date.now() + CONNECT_TIMEOUT_MS)
  } catch (err) {
    throw new DriverError('unavailable', `sandbox ${handle.id}: cannot reach the agent: ${(err as Error).message}`, { cause: err })
  }
}
