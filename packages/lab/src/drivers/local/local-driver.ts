import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, lstatSync, readlinkSync } from 'node:fs'
import { chmod, mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import type { Logger } from 'pino'
import type { AgentChannel } from '../channel.ts'
import { DriverError, type SandboxDriver, type SandboxHandle, type SandboxSpec, type WorkspaceBinding } from '../types.ts'
import { sandboxProxyEnv } from '../../spec/network-policy.ts'
import { awaitAgentHello, connectHostAgent, mountSocketDir, unmountSocketDir, type AgentEndpoint } from '../host/agent-socket.ts'
import { writeSandboxNetFiles, type NetFileBinds } from '../host/egress-files.ts'
import { requireEgressRules } from '../host/egress-host.ts'
import { EgressLeases } from '../host/egress-leases.ts'
import { readdirIfExists } from '../host/fs-util.ts'
import { SANDBOX_ID_RE } from '../host/ids.ts'
import { SANDBOX_LAYOUT_VERSION, runtimeLayout, type RuntimeLayout } from '../host/layout.ts'
import { loadMountAddon, type MountAddon } from '../host/mounts.ts'
import { loadSeccompFilter } from '../host/seccomp.ts'
import { ensureSharedSlots, removeAllSlots, removeSlot } from '../host/slots.ts'
import { isDescendantOf } from '../host/peer.ts'
import { ensureWorkspace } from '../host/workspace.ts'
import { unmountWorkspaceImages } from '../host/workspace-image.ts'
import {
  HOST_ROOT_ENTRIES, SANDBOX_PATH, SECCOMP_FD, WRAPPER_EXIT, sandboxCommand, type HostRoot, type HostRootEntry, type SandboxNetworkInput,
} from './bwrap-args.ts'
import {
  cgroupPids, createSandboxCgroups, destroyCgroups, detectCgroupHost, groupDirs, removeGroupDirs, sandboxCgroupDirs, type CgroupHost,
} from './cgroups.ts'
import { resolveLocalOptions, type LocalDriverOptions, type ResolvedLocalOptions } from './options.ts'
import { isSameProcessAlive, pssBytesOf, readProcStat } from './proc.ts'
import { prepareRuntimeDir, sandboxNodePath } from './runtime-dir.ts'
import { readRecord, writeRecord, type SandboxRecord } from './sandbox-record.ts'
import { createSandboxNetns, removeSandboxNetns } from './sandbox-netns.ts'

/** A sandbox dir with no record yet is a create in progress, unless it is older than this. */
const ORPHAN_DIR_AGE_MS = 5 * 60_000
const LOG_TAIL_BYTES = 2_000

/** Sandboxes are bubblewrap sandboxes on this host, each running the agent as an unprivileged uid. */
export class LocalDriver implements SandboxDriver {
  readonly name = 'local' as const
  readonly options: ResolvedLocalOptions
  private readonly layout: RuntimeLayout
  private readonly logger: Logger
  private readonly leases = new EgressLeases()
  private initialized: Promise<{ addon: MountAddon; cgroups: CgroupHost; hostRoot: HostRoot; seccompPath: string; netFiles: NetFileBinds }> | undefined

  constructor(options: LocalDriverOptions) {
    this.options = resolveLocalOptions(options)
    this.layout = runtimeLayout(this.options.runtimeDir)
    this.logger = options.logger.child({ driver: 'local' })
  }

  init(): Promise<void> {
    this.initialized ??= this.doInit()
    this.initialized.catch(() => (this.initialized = undefined))
    return this.initialized.then(() => undefined)
  }

  private async doInit() {
    if (process.getuid?.() !== 0) {
      throw new DriverError('unavailable', 'the local driver needs root for mounts and cgroups: run `sudo npm start`, or use --driver docker')
    }
    for (const bin of ['bwrap', 'setpriv']) {
      if (!onPath(bin)) throw new DriverError('unavailable', `the local driver needs ${bin}: apt-get install bubblewrap util-linux (or use --driver docker)`)
    }
    const addon = loadMountAddon()
    const seccomp = loadSeccompFilter()
    const cgroups = detectCgroupHost()
    await prepareRuntimeDir(this.layout, { agentBundleDir: this.options.agentBundleDir, nodePath: process.execPath })
    // Every start opens this copy, not the build output: a rebuild never reaches running creates.
    const seccompPath = join(this.layout.root, 'seccomp.bpf')
    await writeFile(`${seccompPath}.tmp-${process.pid}`, seccomp.bpf, { mode: 0o644 })
    await rename(`${seccompPath}.tmp-${process.pid}`, seccompPath)
    ensureSharedSlots(addon, this.layout.slotsDir)
    const hostRoot = Object.fromEntries(HOST_ROOT_ENTRIES.map((n) => [n, hostRootEntry(`/${n}`)])) as HostRoot
    const netFiles = await writeSandboxNetFiles(this.layout.netEtcDir, this.options.proxyIp, this.options.egress?.caCertPem)
    this.logger.info({ runtimeDir: this.layout.root, cgroup: cgroups.version }, 'local driver ready')
    return { addon, cgroups, hostRoot, seccompPath, netFiles }
  }

  private async ready() {
    await this.init()
    return this.initialized!
  }

  async create(spec: SandboxSpec): Promise<SandboxHandle> {
    const env = await this.ready()
    const { id } = spec
    if (!SANDBOX_ID_RE.test(id)) throw new DriverError('create_failed', `invalid sandbox id ${JSON.stringify(id)}`)
    const createdAt = Date.now()
    const deadline = createdAt + spec.helloTimeoutMs
    const L = this.layout
    try {
      await mkdir(L.sandboxDir(id), { mode: 0o711 })
    } catch (err) {
      const exists = (err as NodeJS.ErrnoException).code === 'EEXIST'
      throw new DriverError('create_failed', exists ? `sandbox ${id} already exists` : `sandbox ${id}: ${(err as Error).message}`, { cause: err })
    }
    let child: ChildProcess | undefined
    try {
      await chmod(L.sandboxDir(id), 0o711)
      await mkdir(L.sockDir(id), { mode: 0o700 })
      mountSocketDir(env.addon, L, id, this.options.sandboxUid)
      await mkdir(L.slotDir(id), { mode: 0o755 })
      await mkdir(L.homeDir(id), { mode: 0o755 })
      const cgroupDirs = await createSandboxCgroups(env.cgroups, this.options.cgroupGroup, id, spec.limits)
      const net = spec.network ? await this.createNetwork(id, env.netFiles) : undefined
      const args = sandboxCommand({
        id, ...(net ? { network: net.input } : {}), hostUid: this.options.sandboxUid, hostRoot: env.hostRoot,
        sockDir: L.sockDir(id), agentDir: L.agentDir, slotDir: L.slotDir(id), passwd: L.passwd, group: L.group,
        nodePath: sandboxNodePath(process.execPath), nodeFlags: this.options.nodeFlags,
        cgroupProcs: cgroupDirs.map((d) => join(d, 'cgroup.procs')), maxOpenFiles: this.options.maxOpenFiles,
        tmpSizeBytes: this.options.tmpSizeBytes, shmSizeBytes: this.options.shmSizeBytes,
      })
      const log = await open(L.logPath(id), 'a', 0o600)
      try {
        // A fresh fd per start: bwrap reads the filter from it to the end.
        const filter = await open(env.seccompPath, 'r')
        try {
          const stdio: (number | 'ignore')[] = ['ignore', log.fd, log.fd]
          stdio[SECCOMP_FD] = filter.fd
          // Detached, in its own session: the sandbox outlives the gateway. No env is passed on.
          child = spawn('/bin/sh', args, { detached: true, stdio, env: { PATH: SANDBOX_PATH } })
        } finally {
          await filter.close()
        }
      } finally {
        await log.close()
      }
      child.unref()
      const exited = new Promise<string>((resolve) => {
        child!.once('exit', (code, signal) => resolve(describeExit(code, signal)))
        child!.once('error', (err) => resolve(`could not start: ${err.message}`))
      })
      const stat = child.pid === undefined ? undefined : await readProcStat(child.pid)
      if (!stat) throw new DriverError('exited_early', `sandbox ${id} exited at once: ${await exited}`)
      const record: SandboxRecord = {
        id, pool: spec.pool, createdAt, pid: child.pid!, startTime: stat.startTime, network: spec.network,
        ...(net ? { egressIp: net.address } : {}), state: 'starting', helloDeadline: deadline, layout: SANDBOX_LAYOUT_VERSION,
      }
      await writeRecord(L.metaPath(id), record)

      const hello = awaitAgentHello(this.endpoint(env.addon, id, record.pid), deadline, () => this.logTail(id))
      const outcome = await Promise.race([hello.then(() => undefined), exited])
      if (outcome !== undefined) {
        hello.catch(() => undefined)
        throw new DriverError('exited_early', `sandbox ${id} ${outcome} before hello; agent log: ${await this.logTail(id)}`)
      }
      child.removeAllListeners('exit').removeAllListeners('error')
      const startMs = Date.now() - createdAt
      const ready: SandboxRecord = { ...record, state: 'ready', startMs }
      await writeRecord(L.metaPath(id), ready)
      this.logger.info({ sandboxId: id, pool: spec.pool, pid: record.pid, startMs }, 'sandbox created')
      return this.toHandle(ready)
    } catch (err) {
      child?.removeAllListeners('exit').removeAllListeners('error')
      const failure = err instanceof DriverError ? err : new DriverError('create_failed', `sandbox ${id}: ${(err as Error).message}`, { cause: err })
      this.logger.warn({ sandboxId: id, reason: failure.reason, err: failure.message }, 'sandbox create failed')
      await this.destroy(id).catch((e: unknown) => this.logger.error({ sandboxId: id, err: (e as Error).message }, 'cleanup after failed create failed'))
      throw failure
    }
  }

  /** The sandbox's own network namespace (removed by destroy, through its lease) and what bwrap makes of it. */
  private async createNetwork(id: string, files: NetFileBinds): Promise<{ address: string; input: SandboxNetworkInput }> {
    const o = this.options
    // Fails closed: a sandbox link without the proxy's rules would reach every service of the host.
    if (!o.egress) throw new DriverError('unavailable', 'a network sandbox needs the gateway\'s egress proxy (driver option egress): the gateway passes it for network pools')
    await requireEgressRules(o.egressNames)
    const ns = await createSandboxNetns({ names: o.egressNames, proxyIp: o.proxyIp, runtimeDir: this.layout.root, sandboxId: id, leases: this.leases })
    return { address: ns.address, input: { netnsPath: ns.netnsPath, files, env: sandboxProxyEnv(o.proxyIp) } }
  }

  /** The agent of sandbox `id` is whoever listens on its socket from inside the wrapper's process tree. */
  private endpoint(addon: MountAddon, id: string, wrapperPid: number): AgentEndpoint {
    return {
      addon, sockDir: this.layout.sockDir(id), sandboxId: id,
      checkPeer: async (peer) => ((await isDescendantOf(peer.pid, wrapperPid)) ? undefined : `pid ${peer.pid} is not in sandbox ${id}`),
    }
  }

  async destroy(id: string): Promise<void> {
    if (!SANDBOX_ID_RE.test(id)) return // cannot name anything of ours
    const env = await this.ready()
    const L = this.layout
    const rec = await readRecord(L.metaPath(id))
    if (rec && (await isSameProcessAlive(rec.pid, rec.startTime))) {
      try {
        process.kill(rec.pid, 'SIGKILL')
      } catch {
        // exited meanwhile
      }
    }
    await destroyCgroups(sandboxCgroupDirs(env.cgroups, this.options.cgroupGroup, id))
    await removeSandboxNetns(this.leases, L.root, (other) => other === id)
    unmountSocketDir(env.addon, L, id)
    await removeSlot(env.addon, L, id)
    await rm(L.sandboxDir(id), { recursive: true, force: true })
    if (rec) this.logger.info({ sandboxId: id }, 'sandbox destroyed')
  }

  async list(): Promise<SandboxHandle[]> {
    await this.ready()
    const out: SandboxHandle[] = []
    for (const id of await readdirIfExists(this.layout.sandboxesDir)) {
      if (!SANDBOX_ID_RE.test(id)) continue
      const rec = await readRecord(this.layout.metaPath(id))
      const alive = rec !== undefined && (await isSameProcessAlive(rec.pid, rec.startTime))
      if (rec && alive && rec.state === 'ready' && rec.layout === SANDBOX_LAYOUT_VERSION) out.push(this.toHandle(rec))
      else if (rec && alive && rec.state === 'ready') {
        // Made by an older version (its socket dir is not a gateway tmpfs): never adopted.
        this.logger.warn({ sandboxId: id, layout: rec.layout ?? 1 }, 'recycling a sandbox made by an older version')
        await this.destroy(id).catch((e: unknown) => this.logger.warn({ sandboxId: id, err: (e as Error).message }, 'could not recycle an old sandbox'))
      } else if (await this.isLeftover(id, rec, alive)) {
        this.logger.info({ sandboxId: id }, 'removing leftovers of a dead sandbox')
        await this.destroy(id).catch((e: unknown) => this.logger.warn({ sandboxId: id, err: (e as Error).message }, 'could not clean a dead sandbox'))
      }
    }
    // Namespaces whose sandbox dir is gone: a create or destroy that died half-way.
    const orphans = await removeSandboxNetns(this.leases, this.layout.root, (id) => !existsSync(this.layout.sandboxDir(id)))
    if (orphans > 0) this.logger.info({ namespaces: orphans }, 'removed network namespaces of sandboxes that are gone')
    return out
  }

  /** Dead, or abandoned mid-create; a create in progress (maybe in another gateway) is left alone. */
  private async isLeftover(id: string, rec: SandboxRecord | undefined, alive: boolean): Promise<boolean> {
    if (rec) return !alive || Date.now() > rec.helloDeadline + ORPHAN_DIR_AGE_MS
    const st = await stat(this.layout.sandboxDir(id)).catch(() => undefined)
    return st !== undefined && Date.now() - st.mtimeMs > ORPHAN_DIR_AGE_MS
  }

  async connect(handle: SandboxHandle): Promise<AgentChannel> {
    const env = await this.ready()
    const pid = handle.meta.pid
    if (!SANDBOX_ID_RE.test(handle.id) || typeof pid !== 'number') throw new DriverError('unavailable', `sandbox ${handle.id} has no local handle`)
    return connectHostAgent(this.endpoint(env.addon, handle.id, pid))
  }

  async bindWorkspace(handle: SandboxHandle, user: string): Promise<WorkspaceBinding> {
    const env = await this.ready()
    if (!SANDBOX_ID_RE.test(handle.id) || !existsSync(this.layout.sandboxDir(handle.id))) {
      throw new DriverError('unavailable', `sandbox ${handle.id} does not exist`)
    }
    const o = this.options
    const src = await ensureWorkspace(o.workspacesDir, user, { uid: o.sandboxUid, quotaBytes: o.workspaceQuotaBytes, logger: this.logger })
    env.addon.bind(src, this.layout.homeDir(handle.id))
    return { home: '/home/user' }
  }

  async teardown(): Promise<void> {
    const env = await this.ready()
    const L = this.layout
    for (const id of await readdirIfExists(L.sandboxesDir)) await this.destroy(id)
    await removeSandboxNetns(this.leases, L.root, () => true)
    for (const dir of groupDirs(env.cgroups, this.options.cgroupGroup)) {
      const leftovers = (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory())
      for (const e of leftovers) await destroyCgroups(sandboxCgroupDirs(env.cgroups, this.options.cgroupGroup, e.name))
    }
    await removeGroupDirs(env.cgroups, this.options.cgroupGroup)
    await removeAllSlots(env.addon, L)
    // After the slots: a workspace image's loop device is freed once no sandbox has it bound.
    const images = await unmountWorkspaceImages(this.options.workspacesDir, env.addon, this.logger)
    await rm(L.root, { recursive: true, force: true })
    this.initialized = undefined
    this.logger.info({ runtimeDir: L.root, unmountedWorkspaceImages: images }, 'local driver torn down')
  }

  /** Proportional set size of everything in the sandbox, in bytes (for the memory benchmark). */
  async pssBytes(id: string): Promise<number> {
    const env = await this.ready()
    return pssBytesOf(await cgroupPids(sandboxCgroupDirs(env.cgroups, this.options.cgroupGroup, id)))
  }

  /** The sandbox's cgroup directories (one per controller on cgroup v1). */
  async cgroupDirs(id: string): Promise<string[]> {
    const env = await this.ready()
    return sandboxCgroupDirs(env.cgroups, this.options.cgroupGroup, id)
  }

  private toHandle(rec: SandboxRecord): SandboxHandle {
    return {
      id: rec.id, pool: rec.pool, driver: 'local', createdAt: rec.createdAt,
      address: { kind: 'unix', path: this.layout.socketPath(rec.id) },
      meta: { pid: rec.pid, startTime: rec.startTime, network: rec.network, runtimeDir: this.layout.root, ...(rec.egressIp ? { egressIp: rec.egressIp } : {}) },
      ...(rec.startMs === undefined ? {} : { startMs: rec.startMs }),
    }
  }

  private async logTail(id: string): Promise<string> {
    try {
      const f = await open(this.layout.logPath(id), 'r')
      try {
        const { size } = await f.stat()
        const buf = Buffer.alloc(Math.min(size, LOG_TAIL_BYTES))
        await f.read(buf, 0, buf.length, size - buf.length)
        return JSON.stringify(buf.toString('utf8').trim())
      } finally {
        await f.close()
      }
    } catch {
      return '(none)'
    }
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (code === WRAPPER_EXIT.cgroup) return 'could not join its cgroups'
  if (code === WRAPPER_EXIT.rlimit) return 'could not set its rlimits'
  return signal ? `was killed by ${signal}` : `exited with code ${code}`
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).some((d) => d && existsSync(join(d, bin)))
}

function hostRootEntry(path: string): HostRootEntry {
  try {
    const st = lstatSync(path)
    if (st.isSymbolicLink()) return { kind: 'symlink', target: readlinkSync(path) }
    return st.isDirectory() ? { kind: 'dir' } : { kind: 'absent' }
  } catch {
    return { kind: 'absent' }
  }
}

