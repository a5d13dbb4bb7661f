/** Builds the command that starts one sandbox: sh (cgroups, rlimits) -> [nsenter] -> setpriv -> bwrap -> node agent. Pure. */
import type { NetFileBinds } from '../host/egress-files.ts'
import { AGENT_OOM_SCORE_ADJ, DEFAULT_SHM_SIZE_BYTES, DEFAULT_TMP_SIZE_BYTES } from '../host/resources.ts'

/** What the host has at /bin, /lib, /lib64, /sbin: a symlink (its target), a directory, or nothing. */
export type HostRootEntry = { readonly kind: 'symlink'; readonly target: string } | { readonly kind: 'dir' } | { readonly kind: 'absent' }
export const HOST_ROOT_ENTRIES = ['bin', 'lib', 'lib64', 'sbin'] as const
export type HostRoot = Readonly<Record<(typeof HOST_ROOT_ENTRIES)[number], HostRootEntry>>

/** /etc entries the shell and tools need; bound read-only when the host has them. */
export const ETC_ENTRIES = [
  'ld.so.cache', 'alternatives', 'ssl', 'ca-certificates', 'nsswitch.conf', 'localtime', 'terminfo', 'inputrc', 'bash.bashrc',
] as const
/** Only with a network; resolv.conf and hosts come from the generated files instead (SandboxNetworkInput). */
export const ETC_NETWORK_ENTRIES = ['host.conf', 'gai.conf'] as const

export const SANDBOX_UID = 1000
export const SANDBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
export const AGENT_SOCKET_IN_SANDBOX = '/run/agent/agent.sock'
/** The fd (spawn stdio index) bwrap reads the seccomp filter from (packages/lab/native/seccomp_filter.c). */
export const SECCOMP_FD = 3

/** A network sandbox's: its own namespace, and what it is told about the egress proxy. */
export interface SandboxNetworkInput {
  /** The namespace the wrapper enters (nsenter --net) before bwrap, which then shares it. */
  readonly netnsPath: string
  /** Generated resolv.conf, hosts, CA and bundle, bound read-only over the host's. */
  readonly files: NetFileBinds
  /** The agent's environment, and so the user's shell's: the proxy variables (sandboxProxyEnv). */
  readonly env: Readonly<Record<string, string>>
}

export interface SandboxCommandInput {
  readonly id: string
  /** Undefined: no network at all (only a loopback of its own). */
  readonly network?: SandboxNetworkInput
  /** Host uid (and gid) the sandbox runs as; uid 1000 inside maps to it. */
  readonly hostUid: number
  readonly hostRoot: HostRoot
  readonly sockDir: string
  readonly agentDir: string
  readonly slotDir: string
  readonly passwd: string
  readonly group: string
  /** node binary as seen inside the sandbox. */
  readonly nodePath: string
  readonly nodeFlags: readonly string[]
  /** cgroup.procs files the wrapper joins before dropping privileges. */
  readonly cgroupProcs: readonly string[]
  readonly maxOpenFiles: number
  /** Sizes of the /tmp and /dev/shm tmpfs: everything the sandbox can write besides the workspace. */
  readonly tmpSizeBytes?: number
  readonly shmSizeBytes?: number
}

export function bwrapArgs(i: SandboxCommandInput): string[] {
  const a: string[] = ['--unshare-all']
  // A user namespace made explicitly, so that nothing inside can make another: a new one hands
  // its creator every capability in it. The seccomp filter also refuses the namespace, mount,
  // keyring, bpf, ptrace, ... calls that escapes start with; bwrap loads it once, in its pid 1
  // and in the agent just before exec, so every later process of the sandbox inherits it.
  a.push('--unshare-user', '--disable-userns', '--seccomp', String(SECCOMP_FD))
  // The namespace the wrapper entered: the sandbox's own, owned by the host's user namespace, so
  // the sandbox's user namespace holds no capability over it. Never the host's.
  if (i.network) a.push('--share-net')
  a.push('--die-with-parent', '--new-session', '--hostname', 'sandbox')
  a.push('--ro-bind', '/usr', '/usr')
  for (const name of HOST_ROOT_ENTRIES) {
    const e = i.hostRoot[name]
    if (e.kind === 'symlink') a.push('--symlink', e.target, `/${name}`)
    else if (e.kind === 'dir') a.push('--ro-bind', `/${name}`, `/${name}`)
  }
  for (const name of [...ETC_ENTRIES, ...(i.network ? ETC_NETWORK_ENTRIES : [])]) a.push('--ro-bind-try', `/etc/${name}`, `/etc/${name}`)
  // After /etc/ssl: the bundle replaces the host's inside it.
  for (const [host, inSandbox] of i.network?.files ?? []) a.push('--ro-bind', host, inSandbox)
  a.push('--ro-bind', i.passwd, '/etc/passwd', '--ro-bind', i.group, '/etc/group')
  a.push('--proc', '/proc', '--dev', '/dev')
  const shm = i.shmSizeBytes ?? DEFAULT_SHM_SIZE_BYTES
  const tmp = i.tmpSizeBytes ?? DEFAULT_TMP_SIZE_BYTES
  a.push('--size', String(shm), '--tmpfs', '/dev/shm', '--size', String(tmp), '--tmpfs', '/tmp')
  a.push('--bind', i.sockDir, '/run/agent')
  a.push('--ro-bind', i.agentDir, '/opt/infra-lab')
  // Read-only and root-owned: the sandbox cannot replace /slot/home, where the workspace appears.
  a.push('--ro-bind', i.slotDir, '/slot')
  a.push('--symlink', '/slot/home', '/home/user')
  // The root and /dev are tmpfs the sandbox user owns; freeze them once everything is in place.
  a.push('--remount-ro', '/dev', '--remount-ro', '/')
  a.push('--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_UID), '--chdir', '/')
  a.push('--clearenv', '--setenv', 'PATH', SANDBOX_PATH, '--setenv', 'LANG', 'C.UTF-8', '--setenv', 'TERM', 'xterm-256color')
  for (const [name, value] of Object.entries(i.network?.env ?? {})) a.push('--setenv', name, value)
  a.push('--', i.nodePath, ...i.nodeFlags, '/opt/infra-lab/agent.mjs', '--socket', AGENT_SOCKET_IN_SANDBOX, '--sandbox-id', i.id)
  return a
}

/** Exit codes of the wrapper before bwrap runs. */
export const WRAPPER_EXIT = { cgroup: 97, rlimit: 98 } as const

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/**
 * The root shell that joins the sandbox's cgroups and sets rlimits, then runs the rest and
 * stays as its parent. It must not exec: bwrap's --die-with-parent applies to bwrap itself,
 * so bwrap's parent has to be a process that outlives the gateway (this shell, reparented
 * to init when the gateway dies); killing this shell takes the whole sandbox down.
 * RLIMIT_NPROC is not set: it counts per host uid, and every sandbox shares one, so it would
 * let one sandbox starve the others; pids.max does it.
 * The OOM score is reset here, so the agent does not inherit the gateway's: with
 * CAP_SYS_RESOURCE the write also sets the floor (oom_score_adj_min) that the agent and all
 * it starts inherit. Best effort: a host whose root lacks that capability cannot lower a score
 * the gateway was given, and the agent's raise of its shell (to 1000) still orders the two.
 */
export function wrapperScript(cgroupProcs: readonly string[], maxOpenFiles: number): string {
  const join = cgroupProcs.length > 0
    ? `for f in ${cgroupProcs.map(quote).join(' ')}; do echo $$ > "$f" || exit ${WRAPPER_EXIT.cgroup}; done; `
    : ''
  const oom = `{ echo ${AGENT_OOM_SCORE_ADJ} > /proc/self/oom_score_adj; } 2>/dev/null; `
  return `${join}${oom}ulimit -c 0 && ulimit -n ${maxOpenFiles} || exit ${WRAPPER_EXIT.rlimit}; "$@"; exit $?`
}

/** argv for spawn('/bin/sh', ...). */
export function sandboxCommand(i: SandboxCommandInput): string[] {
  return [
    '-c', wrapperScript(i.cgroupProcs, i.maxOpenFiles), 'sh',
    // nsenter execs setpriv: the process tree stays wrapper -> bwrap.
    ...(i.network ? ['nsenter', `--net=${i.network.netnsPath}`, '--'] : []),
    'setpriv', `--reuid=${i.hostUid}`, `--regid=${i.hostUid}`, '--clear-groups', '--',
    'bwrap', ...bwrapArgs(i),
  ]
}
