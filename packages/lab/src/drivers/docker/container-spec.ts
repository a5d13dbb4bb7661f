import type { SandboxLimits } from '../../spec/pool-spec.ts'
import type { NetFileBinds } from '../host/egress-files.ts'
import { AGENT_OOM_SCORE_ADJ, DEFAULT_SHM_SIZE_BYTES } from '../host/resources.ts'

/** Labels that mark a container as one of ours; `list()` filters on the runtime label. */
export const LABEL = {
  sandbox: 'org.infra-lab.sandbox',
  pool: 'org.infra-lab.pool',
  runtime: 'org.infra-lab.runtime',
  createdAt: 'org.infra-lab.created-at',
} as const

export const AGENT_SOCKET_DIR_IN_SANDBOX = '/run/agent'
export const SLOT_IN_SANDBOX = '/slot'
/** A symlink to /slot/home in the image: the workspace appears there once bound. */
export const HOME_IN_SANDBOX = '/home/user'
export const TMP_SIZE_MB = 256

/** A network sandbox's: the driver's own Docker network, and what it is told about the egress proxy. */
export interface ContainerNetwork {
  readonly name: string
  /** Generated resolv.conf, hosts, CA and bundle, bound read-only over the image's. */
  readonly files: NetFileBinds
  /** The proxy variables (sandboxProxyEnv); empty without an egress proxy. */
  readonly env: Readonly<Record<string, string>>
}

export interface ContainerInput {
  readonly id: string
  readonly pool: string
  readonly createdAt: number
  readonly image: string
  readonly uid: number
  readonly limits: SandboxLimits
  /** Undefined: no network at all (`none`, only a loopback). */
  readonly network?: ContainerNetwork
  /** Host directories: the agent's socket dir (rw) and the sandbox's workspace slot (ro, rslave). */
  readonly sockDir: string
  readonly slotDir: string
  readonly runtimeDir: string
  readonly nodeFlags: readonly string[]
  readonly maxOpenFiles: number
  /** Default 64 MiB. */
  readonly shmSizeBytes?: number
  /**
   * Docker seccomp profile (JSON text) from packages/lab/native/seccomp_filter.c; the Docker
   * driver always passes it. Without one the engine applies its built-in default profile (what
   * an ECS task gets: a task definition cannot carry a profile).
   */
  readonly seccompProfile?: string
}

/**
 * The body of `POST /containers/create` for one sandbox. Pure. The agent runs as the
 * unprivileged sandbox uid with no capabilities, no new privileges, a read-only root, no
 * network unless the pool allows it, and the pool's pids, memory and CPU limits.
 */
export function containerBody(c: ContainerInput): Record<string, unknown> {
  const memory = c.limits.memoryMb * 1024 * 1024
  return {
    Image: c.image,
    User: `${c.uid}:${c.uid}`,
    Entrypoint: ['/usr/bin/node', ...c.nodeFlags, '/opt/infra-lab/agent.mjs'],
    Cmd: ['--socket', `${AGENT_SOCKET_DIR_IN_SANDBOX}/agent.sock`, '--sandbox-id', c.id],
    Env: ['PATH=/usr/bin:/bin', 'HOME=/tmp', 'LANG=C.UTF-8', ...Object.entries(c.network?.env ?? {}).map(([k, v]) => `${k}=${v}`)],
    WorkingDir: '/',
    Hostname: 'sandbox',
    NetworkDisabled: c.network === undefined,
    Labels: {
      [LABEL.sandbox]: c.id,
      [LABEL.pool]: c.pool,
      [LABEL.runtime]: c.runtimeDir,
      [LABEL.createdAt]: String(c.createdAt),
    },
    HostConfig: {
      NetworkMode: c.network?.name ?? 'none',
      Binds: [
        `${c.sockDir}:${AGENT_SOCKET_DIR_IN_SANDBOX}:rw`, `${c.slotDir}:${SLOT_IN_SANDBOX}:ro,rslave`,
        ...(c.network?.files ?? []).map(([host, inSandbox]) => `${host}:${inSandbox}:ro`),
      ],
      // The network has no IPv6, and the container gets none of its own either.
      ...(c.network ? { Sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1' } } : {}),
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${TMP_SIZE_MB}m,mode=1777` },
      ShmSize: c.shmSizeBytes ?? DEFAULT_SHM_SIZE_BYTES,
      CapDrop: ['ALL'],
      // A profile given here replaces the engine's default allow-list profile rather than adding
      // to it, so ours denies, on its own, everything of that default that matters to a sandbox
      // without capabilities, and more (ptrace, io_uring, AF_VSOCK, modify_ldt); docs/docker.md.
      SecurityOpt: ['no-new-privileges', ...(c.seccompProfile === undefined ? [] : [`seccomp=${c.seccompProfile}`])],
      PidsLimit: c.limits.pids,
      Memory: memory,
      MemorySwap: memory,
      NanoCpus: Math.round(c.limits.cpus * 1e9),
      // Written by runc (root) into the container's first process: the agent's level, and with
      // CAP_SYS_RESOURCE the floor below which the user's processes (raised to 1000) cannot go.
      OomScoreAdj: AGENT_OOM_SCORE_ADJ,
      Ulimits: [{ Name: 'core', Soft: 0, Hard: 0 }, { Name: 'nofile', Soft: c.maxOpenFiles, Hard: c.maxOpenFiles }],
      // tini as pid 1 reaps orphans, so zombies never fill the pids limit.
      Init: true,
      IpcMode: 'private',
      RestartPolicy: { Name: 'no' },
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
    },
  }
}

/** Container name of a sandbox: unique per runtime dir, so `destroy(id)` needs no lookup. */
export function containerName(runtimeTag: string, id: string): string {
  return `infra-lab-${runtimeTag}-${id}`
}
