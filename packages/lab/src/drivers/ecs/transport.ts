import { createHmac } from 'node:crypto'
import { connect as tlsConnect } from 'node:tls'
import type { Socket } from 'node:net'
import { AgentChannel } from '../channel.ts'

/** Same settings as the agent's TLS bridge (packages/agent/src/tls-bridge.ts). */
export const PSK_TLS = { ciphers: 'ECDHE-PSK-CHACHA20-POLY1305', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const

/**
 * The per-task key: HMAC-SHA256(gateway agent key, sandbox id). The task gets it in its
 * container overrides; the gateway recomputes it after a restart, so it is never stored.
 */
export function taskKey(agentKey: Buffer, sandboxId: string): Buffer {
  return createHmac('sha256', agentKey).update(`infra-lab/agent-psk/v1/${sandboxId}`).digest()
}

/** How the ECS driver reaches an agent: TLS-PSK over TCP to the task's private address. */
export type AgentDialer = (target: { host: string; port: number; sandboxId: string; key: Buffer }, deadline: number) => Promise<AgentChannel>

function dialOnce(target: { host: string; port: number; sandboxId: string; key: Buffer }, deadline: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      ...PSK_TLS,
      host: target.host,
      port: target.port,
      // The PSK authenticates the agent: no certificate, no host name to check.
      checkServerIdentity: () => undefined,
      pskCallback: () => ({ identity: target.sandboxId, psk: target.key }),
    })
    const timer = setTimeout(() => socket.destroy(new Error('TLS handshake timed out')), Math.max(1, deadline - Date.now()))
    socket.once('secureConnect', () => {
      clearTimeout(timer)
      socket.off('error', onError)
      resolve(socket)
    })
    const onError = (err: Error) => {
      clearTimeout(timer)
      reject(err)
    }
    socket.once('error', onError)
  })
}

/** Dials until the agent listens (a task is RUNNING a little before its agent is), then waits for hello. */
export const tlsPskDialer: AgentDialer = async (target, deadline) => {
  for (;;) {
    let socket: Socket
    try {
      socket = await dialOnce(target, deadline)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if ((code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ECONNRESET') && Date.now() + 50 < deadline) {
        await new Promise((r) => setTimeout(r, 50))
        continue
      }
      throw err
    }
    // The PSK already proves the task; the hello must still name the sandbox it was made for.
    return AgentChannel.open(socket, Math.max(1, deadline - Date.now()), { sandboxId: target.sandboxId })
  }
}
