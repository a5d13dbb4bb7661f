import { parseArgs } from 'node:util'

export const DEFAULT_STATE_DIR = '/tmp/.agent'
export const DEFAULT_SHELL = '/bin/bash'
export const DEFAULT_SCROLLBACK_BYTES = 256 * 1024
const MIN_SCROLLBACK_BYTES = 1024
const MAX_SCROLLBACK_BYTES = 64 * 1024 * 1024

export interface AgentOptions {
  readonly socketPath: string
  readonly sandboxId: string
  readonly stateDir: string
  readonly shellPath: string
  readonly scrollbackBytes: number
  /** Also serve TLS-PSK on this TCP port (ECS tasks); the key comes from AGENT_TLS_PSK. */
  readonly tlsPort?: number
  readonly tlsHost: string
  /** Shared workspaces (ECS: the EFS access point): per-user uid and 0700 directory at claim. */
  readonly workspacesRoot?: string
  /** The exec helper (lab-exec); default: beside the agent bundle. */
  readonly execHelper?: string
  /** Run as the user's operations worker behind a root agent (ops/user-worker.ts), not as an agent. */
  readonly opsWorker: boolean
}

export type ParsedOptions = { options: AgentOptions } | { errors: string[] }

export const USAGE =
  'usage: agent --socket <path> --sandbox-id <id> [--state-dir <dir>] [--shell <bash>] [--scrollback-bytes <n>] [--tls-port <n> [--tls-host <addr>]] [--workspaces-root <dir>] [--exec-helper <path>]\n' +
  '       agent --ops-worker [--shell <bash>] [--exec-helper <path>]   (started by a root agent as the user)'

/** Parses argv (without node and script) into frozen options, or says what to fix. */
export function parseOptions(argv: readonly string[]): ParsedOptions {
  let values
  try {
    ;({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        socket: { type: 'string' },
        'sandbox-id': { type: 'string' },
        'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
        shell: { type: 'string', default: DEFAULT_SHELL },
        'scrollback-bytes': { type: 'string', default: String(DEFAULT_SCROLLBACK_BYTES) },
        'tls-port': { type: 'string' },
        'tls-host': { type: 'string', default: '0.0.0.0' },
        'workspaces-root': { type: 'string' },
        'exec-helper': { type: 'string' },
        'ops-worker': { type: 'boolean', default: false },
      },
    }))
  } catch (err) {
    return { errors: [(err as Error).message, USAGE] }
  }
  const errors: string[] = []
  const opsWorker = values['ops-worker']
  const socketPath = values.socket ?? ''
  if (!socketPath.startsWith('/') && !opsWorker) errors.push('--socket must be an absolute path')
  const sandboxId = values['sandbox-id'] ?? ''
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(sandboxId) && !opsWorker) errors.push('--sandbox-id must match ^[A-Za-z0-9._-]{1,128}$')
  const execHelper = values['exec-helper']
  if (execHelper !== undefined && !execHelper.startsWith('/')) errors.push('--exec-helper must be an absolute path')
  const stateDir = values['state-dir']
  if (!stateDir.startsWith('/')) errors.push('--state-dir must be an absolute path')
  const shellPath = values.shell
  if (!shellPath.startsWith('/')) errors.push('--shell must be an absolute path')
  const scrollbackBytes = Number(values['scrollback-bytes'])
  if (!Number.isInteger(scrollbackBytes) || scrollbackBytes < MIN_SCROLLBACK_BYTES || scrollbackBytes > MAX_SCROLLBACK_BYTES) {
    errors.push(`--scrollback-bytes must be an integer from ${MIN_SCROLLBACK_BYTES} to ${MAX_SCROLLBACK_BYTES}`)
  }
  const tlsPort = values['tls-port'] === undefined ? undefined : Number(values['tls-port'])
  if (tlsPort !== undefined && (!Number.isInteger(tlsPort) || tlsPort < 1 || tlsPort > 65_535)) errors.push('--tls-port must be an integer from 1 to 65535')
  const tlsHost = values['tls-host']
  const workspacesRoot = values['workspaces-root']
  if (workspacesRoot !== undefined && !workspacesRoot.startsWith('/')) errors.push('--workspaces-root must be an absolute path')
  if (errors.length > 0) return { errors: [...errors, USAGE] }
  return {
    options: Object.freeze({
      socketPath, sandboxId, stateDir, shellPath, scrollbackBytes, tlsHost, opsWorker,
      ...(tlsPort === undefined ? {} : { tlsPort }), ...(workspacesRoot === undefined ? {} : { workspacesRoot }),
      ...(execHelper === undefined ? {} : { execHelper }),
    }),
  }
}
