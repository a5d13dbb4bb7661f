import { createHash } from 'node:crypto'
import { isAbsolute, resolve } from 'node:path'
import type { Logger } from 'pino'
import { DEFAULT_MAX_OPEN_FILES, DEFAULT_NODE_FLAGS, DEFAULT_SANDBOX_HOST_UID } from '../host/defaults.ts'
import { DEFAULT_PROXY_IP, egressErrors, egressNames, egressTag, type EgressNames, type EgressOptions } from '../host/egress-net.ts'
import { defaultRuntimeDir } from '../host/layout.ts'
import { DEFAULT_SHM_SIZE_BYTES, DEFAULT_WORKSPACE_QUOTA_BYTES, sizeErrors } from '../host/resources.ts'
import { DEFAULT_DOCKER_SOCKET } from './engine.ts'

/** Built by `npm run image:local` (docker/build-local-image.mjs). */
export const DEFAULT_SANDBOX_IMAGE = 'infra-lab/sandbox:local'

export interface DockerDriverOptions {
  readonly dataDir: string
  /** One directory per user, bound at /home/user at claim time (shared with the local driver). */
  readonly workspacesDir: string
  /** Host dir of sockets and workspace slots. Default: the local driver's runtime dir + `-docker`. */
  readonly runtimeDir?: string
  readonly image?: string
  /** The Docker daemon's unix socket. */
  readonly dockerSocket?: string
  /**
   * Uid and gid the container runs as. Default 100000, as the local driver: a host uid that owns
   * nothing but the sandboxes' sockets and the workspaces (uid 1000 is often a real person).
   */
  readonly sandboxUid?: number
  /**
   * The gateway's egress proxy. Network sandboxes always join the driver's own Docker network;
   * with this they are also told the proxy (environment) and trust its CA. Without it (driver
   * tests) the network is named after the runtime dir, and only an EgressHost for that tag would
   * filter it.
   */
  readonly egress?: EgressOptions
  readonly nodeFlags?: readonly string[]
  readonly maxOpenFiles?: number
  /** Disk per user workspace (a loop-mounted image); 0: plain directories, no quota. Default 1 GiB. */
  readonly workspaceQuotaBytes?: number
  /** Size of the container's /dev/shm. Default 64 MiB. */
  readonly shmSizeBytes?: number
  readonly logger: Logger
}

export interface ResolvedDockerOptions {
  readonly workspacesDir: string
  readonly runtimeDir: string
  /** Short hash of the runtime dir: part of every container name. */
  readonly runtimeTag: string
  readonly image: string
  readonly dockerSocket: string
  readonly sandboxUid: number
  readonly egress: EgressOptions | undefined
  /** Names of the Docker network and its bridge (egress.tag, else one of the runtime dir). */
  readonly egressNames: EgressNames
  readonly proxyIp: string
  readonly nodeFlags: readonly string[]
  readonly maxOpenFiles: number
  readonly workspaceQuotaBytes: number
  readonly shmSizeBytes: number
}

/** Normalizes and checks the options; throws one message listing everything to fix. */
export function resolveDockerOptions(o: DockerDriverOptions): ResolvedDockerOptions {
  const errors: string[] = []
  const uid = o.sandboxUid ?? DEFAULT_SANDBOX_HOST_UID
  if (!Number.isInteger(uid) || uid < 1 || uid > 0xfffffffe) errors.push('sandboxUid must be an integer from 1 to 4294967294 (never root)')
  const maxOpenFiles = o.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES
  if (!Number.isInteger(maxOpenFiles) || maxOpenFiles < 64) errors.push('maxOpenFiles must be an integer of at least 64')
  for (const [k, v] of [['dataDir', o.dataDir], ['workspacesDir', o.workspacesDir]] as const) {
    if (typeof v !== 'string' || v.length === 0) errors.push(`${k} is required`)
  }
  if (o.runtimeDir !== undefined && !isAbsolute(o.runtimeDir)) errors.push('runtimeDir must be an absolute path')
  if (o.dockerSocket !== undefined && !isAbsolute(o.dockerSocket)) errors.push('dockerSocket must be an absolute path')
  const sizes = { workspaceQuotaBytes: o.workspaceQuotaBytes ?? DEFAULT_WORKSPACE_QUOTA_BYTES, shmSizeBytes: o.shmSizeBytes ?? DEFAULT_SHM_SIZE_BYTES }
  errors.push(...sizeErrors(sizes), ...egressErrors(o.egress))
  if (errors.length > 0) throw new Error(`docker driver options: ${errors.join('; ')}`)
  const runtimeDir = o.runtimeDir ?? `${defaultRuntimeDir(o.dataDir)}-docker`
  return Object.freeze({
    workspacesDir: resolve(o.workspacesDir),
    runtimeDir,
    runtimeTag: createHash('sha256').update(runtimeDir).digest('hex').slice(0, 12),
    image: o.image ?? DEFAULT_SANDBOX_IMAGE,
    dockerSocket: o.dockerSocket ?? DEFAULT_DOCKER_SOCKET,
    sandboxUid: uid,
    egress: o.egress,
    egressNames: egressNames(o.egress?.tag ?? egressTag(runtimeDir)),
    proxyIp: o.egress?.proxyIp ?? DEFAULT_PROXY_IP,
    nodeFlags: o.nodeFlags ?? DEFAULT_NODE_FLAGS,
    maxOpenFiles,
    ...sizes,
  })
}
