import { createHash } from 'node:crypto'
import { isAbsolute, resolve } from 'node:path'
import type { Logger } from 'pino'
import { DEFAULT_MAX_OPEN_FILES, DEFAULT_NODE_FLAGS, DEFAULT_SANDBOX_HOST_UID } from '../host/defaults.ts'
import { DEFAULT_PROXY_IP, egressErrors, egressNames, egressTag, type EgressNames, type EgressOptions } from '../host/egress-net.ts'
import { defaultRuntimeDir } from '../host/layout.ts'
import { DEFAULT_SHM_SIZE_BYTES, DEFAULT_TMP_SIZE_BYTES, DEFAULT_WORKSPACE_QUOTA_BYTES, sizeErrors } from '../host/resources.ts'

export interface LocalDriverOptions {
  readonly dataDir: string
  /** Holds one directory per user, bound at /home/user at claim time. */
  readonly workspacesDir: string
  /** Default: /run/infra-lab/<first 12 hex of sha256(dataDir)>. */
  readonly runtimeDir?: string
  /** Host uid and gid every sandbox runs as (uid 1000 inside). Never 0. */
  readonly sandboxUid?: number
  /** Directory holding the agent bundle agent.mjs (packages/agent/dist). */
  readonly agentBundleDir: string
  readonly logger: Logger
  /** V8 flags for the agent. */
  readonly nodeFlags?: readonly string[]
  readonly maxOpenFiles?: number
  /** Disk per user workspace (a loop-mounted image); 0: plain directories, no quota. Default 1 GiB. */
  readonly workspaceQuotaBytes?: number
  /** Size of the sandbox's /tmp tmpfs (it also holds the agent's state). Default 256 MiB. */
  readonly tmpSizeBytes?: number
  /** Size of the sandbox's /dev/shm tmpfs. Default 64 MiB. */
  readonly shmSizeBytes?: number
  /**
   * The gateway's egress proxy. Network sandboxes always get a namespace of their own; with this
   * they are also told the proxy (environment) and trust its CA. Without it (driver tests) their
   * links are named after the runtime dir, and only an EgressHost for that tag would filter them.
   */
  readonly egress?: EgressOptions
}

export interface ResolvedLocalOptions {
  readonly dataDir: string
  readonly workspacesDir: string
  readonly runtimeDir: string
  readonly sandboxUid: number
  readonly agentBundleDir: string
  readonly nodeFlags: readonly string[]
  readonly maxOpenFiles: number
  readonly workspaceQuotaBytes: number
  readonly tmpSizeBytes: number
  readonly shmSizeBytes: number
  /** Name of the parent cgroup of this runtime dir's sandboxes. */
  readonly cgroupGroup: string
  readonly egress: EgressOptions | undefined
  /** Names of the network sandboxes' host links and namespaces (egress.tag, else one of the runtime dir). */
  readonly egressNames: EgressNames
  readonly proxyIp: string
}

/** Normalizes and checks the options; throws one message listing everything to fix. */
export function resolveLocalOptions(o: LocalDriverOptions): ResolvedLocalOptions {
  const errors: string[] = []
  const uid = o.sandboxUid ?? DEFAULT_SANDBOX_HOST_UID
  if (!Number.isInteger(uid) || uid < 1 || uid > 0xfffffffe) errors.push('sandboxUid must be an integer from 1 to 4294967294 (never root)')
  const maxOpenFiles = o.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES
  if (!Number.isInteger(maxOpenFiles) || maxOpenFiles < 64) errors.push('maxOpenFiles must be an integer of at least 64')
  for (const [k, v] of [['dataDir', o.dataDir], ['workspacesDir', o.workspacesDir], ['agentBundleDir', o.agentBundleDir]] as const) {
    if (typeof v !== 'string' || v.length === 0) errors.push(`${k} is required`)
  }
  if (o.runtimeDir !== undefined && !isAbsolute(o.runtimeDir)) errors.push('runtimeDir must be an absolute path')
  const sizes = {
    workspaceQuotaBytes: o.workspaceQuotaBytes ?? DEFAULT_WORKSPACE_QUOTA_BYTES,
    tmpSizeBytes: o.tmpSizeBytes ?? DEFAULT_TMP_SIZE_BYTES,
    shmSizeBytes: o.shmSizeBytes ?? DEFAULT_SHM_SIZE_BYTES,
  }
  errors.push(...sizeErrors(sizes), ...egressErrors(o.egress))
  if (errors.length > 0) throw new Error(`local driver options: ${errors.join('; ')}`)
  const runtimeDir = o.runtimeDir ?? defaultRuntimeDir(o.dataDir)
  return Object.freeze({
    dataDir: resolve(o.dataDir),
    workspacesDir: resolve(o.workspacesDir),
    runtimeDir,
    sandboxUid: uid,
    agentBundleDir: resolve(o.agentBundleDir),
    nodeFlags: o.nodeFlags ?? DEFAULT_NODE_FLAGS,
    maxOpenFiles,
    ...sizes,
    cgroupGroup: `infra-lab-${createHash('sha256').update(runtimeDir).digest('hex').slice(0, 12)}`,
    egress: o.egress,
    egressNames: egressNames(o.egress?.tag ?? egressTag(runtimeDir)),
    proxyIp: o.egress?.proxyIp ?? DEFAULT_PROXY_IP,
  })
}
