import { connect, type AddressInfo } from 'node:net'
import { createServer, type Server, type TLSSocket } from 'node:tls'
import { log } from './log.ts'

/**
 * TLS 1.2 with a pre-shared key and an ephemeral ECDH exchange: the per-task key both
 * authenticates the gateway and the agent to each other and, with ECDHE, gives forward
 * secrecy. No certificates to issue per task. The gateway side uses the same settings.
 */
export const PSK_TLS = { ciphers: 'ECDHE-PSK-CHACHA20-POLY1305', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const
/** Environment variable carrying the per-task key (64 hex digits); removed before the shell starts. */
export const PSK_ENV = 'AGENT_TLS_PSK'

export interface TlsBridgeConfig {
  readonly host: string
  readonly port: number
  /** The agent's unix socket every authenticated connection is relayed to. */
  readonly socketPath: string
  /** PSK identity the gateway must present (the sandbox id). */
  readonly identity: string
  readonly psk: Buffer
}

/** Reads the per-task key from `env` and deletes it, so nothing the agent spawns inherits it. */
export function takePsk(env: NodeJS.ProcessEnv): Buffer | undefined {
  const hex = env[PSK_ENV]
  delete env[PSK_ENV]
  if (hex === undefined) return undefined
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error(`${PSK_ENV} must be 64 hex digits`)
  return Buffer.from(hex, 'hex')
}

/**
 * Listens for TLS-PSK connections (ECS: the gateway reaches the task over its private address)
 * and relays each to the agent's unix socket, so the agent serves both the same way.
 */
export function startTlsBridge(c: TlsBridgeConfig): Promise<{ server: Server; port: number }> {
  const server = createServer(
    { ...PSK_TLS, pskCallback: (_socket: TLSSocket, identity: string) => (identity === c.identity ? c.psk : null) },
    (tlsSocket) => {
      const local = connect(c.socketPath)
      tlsSocket.pipe(local).pipe(tlsSocket)
      const end = () => {
        tlsSocket.destroy()
        local.destroy()
      }
      tlsSocket.on('error', end).on('close', end)
      local.on('error', end).on('close', end)
    },
  )
  server.on('tlsClientError', (err) => log('tls_client_error', { code: (err as NodeJS.ErrnoException).code ?? 'unknown' }))
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(c.port, c.host, () => {
      server.off('error', reject)
      resolve({ server, port: (server.address() as AddressInfo).port })
    })
  })
}
