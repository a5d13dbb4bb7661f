import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { AgentChannel } from '../channel.ts'
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
import { sleep } from '../host/sleep.ts'
import { ensureSharedSlots, removeAllSlots, removeSlot } from '../host/slots.ts'
import { cgroupMentions } from '../host/peer.ts'
import { ensureWorkspace } from '../host/workspace.ts'
import { unmountWorkspaceImages } from '../host/workspace-image.ts'
import { DriverError, type SandboxDriver, type SandboxFailureReason, type SandboxHandle, type SandboxSpec, type WorkspaceBinding } from '../types.ts'
import { HOME_IN_SANDBOX, LABEL, containerBody, containerName, type ContainerNetwork } from './container-spec.ts'
import { DockerEgressNetwork, sealContainer } from './egress-network.ts'
import { DockerEngine, EngineError, EngineUnreachable } from './engine.ts'
import { resolveDockerOptions, type DockerDriverOptions, type ResolvedDockerOptions } from './options.ts'

/** A container or sandbox dir that never became ready is abandoned after this long. */
const ORPHAN_AGE_MS = 5 * 60_000
const REMOVE_WAIT_MS = 10_000

/** Whether the sandbox image is on the engine, and what finding out cost (the pre-pull lesson). */
export interface ImageStatus {
  readonly image: string
  readonly present: boolean
  /** Image id when present. */
  readonly id?: string
  /** Time the inspect took, in milliseconds. */
  readonly inspectMs: number
}

interface ContainerSummary {
  Id: string
  State: string
  Labels: Record<string, string>
}

/** Written once the agent said hello: only sandboxes with one are listed as ready. */
interface ReadyRecord {
  readonly id: string
  readonly containerId: string
  readonly startMs: number
  /** SANDBOX_LAYOUT_VERSION when it was made; absent in sandboxes of older versions. */
  readonly layout?: number
  /** A network sandbox's address on the driver's network: the egress proxy tells sessions apart by it. */
  readonly egressIp?: string
}

interface ContainerInspect {
  State?: { Pid?: number }
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: string }> }
}

/**
 * Sandboxes are containers on a Docker engine, reached over its unix socket. The agent is the
 * container's entry point and listens on a unix socket in a bind-mounted host directory, so a
 * sandbox needs no network. Workspaces are bound at claim time exactly as the local driver does:
 * each container sees its slot directory through an `rslave` bind of a shared host mount, and
 * the claim bind-mounts the user's workspace onto `<slot>/home` on the host.
 */
export class DockerDriver implements SandboxDriver {
  readonly name = 'docker' as const
  readonly options: ResolvedDockerOptions
  readonly engine: DockerEngine
  private readonly layout: RuntimeLayout
  private readonly logger: Logger
  private initialized: Promise<MountAddon> | undefined
  private lastImage: ImageStatus | undefined
  /** The seccomp profile every container gets; read at init. */
  private seccompProfile = ''
  /** resolv.conf, hosts and CA files of network sandboxes; written at init. */
  private netFiles: NetFileBinds = []
  private readonly egressNetwork: DockerEgressNetwork

  constructor(options: DockerDriverOptions) {
    this.options = resolveDockerOptions(options)
    this.layout = runtimeLayout(this.options.runtimeDir)
    this.engine = new DockerEngine(this.options.dockerSocket)
    this.logger = options.logger.child({ driver: 'docker' })
    this.egressNetwork = new DockerEgressNetwork(this.engine, this.options.egressNames, this.layout.root, new EgressLeases(), this.logger)
  }

  /** The image check of the last init (or of `checkImage`). */
  get image(): ImageStatus | undefined {
    return this.lastImage
  }

  init(): Promise<void> {
    this.initialized ??= this.doInit()
    this.initialized.catch(() => (this.initialized = undefined))
    return this.initialized.then(() => undefined)
  }

  private async doInit(): Promise<MountAddon> {
    if (process.getuid?.() !== 0) {
      throw new DriverError('unavailable', 'the docker driver needs root to bind workspaces (mount propagation): run the gateway as root')
    }
    const addon = loadMountAddon()
    this.seccompProfile = loadSeccompFilter().dockerProfile
    await this.guard('docker daemon', () => this.engine.ping())
    // A missing image does not stop the gateway: creates refuse at once with what to run, so
    // the pool shows that as its status (and backs off) until the image exists.
    const image = await this.checkImage()
    if (!image.present) this.logger.warn({ image: image.image }, missingImageMessage(image.image))
    const L = this.layout
    await mkdir(L.root, { recursive: true, mode: 0o755 })
    await mkdir(L.slotsDir, { recursive: true, mode: 0o755 })
    // Traversable, not listable, as in the local driver.
    await mkdir(L.sandboxesDir, { recursive: true })
    await chmod(L.sandboxesDir, 0o711)
    ensureSharedSlots(addon, L.slotsDir)
    this.netFiles = await writeSandboxNetFiles(L.netEtcDir, this.options.proxyIp, this.options.egress?.caCertPem)
    this.logger.info({ runtimeDir: L.root, image: image.image, imageInspectMs: image.inspectMs }, 'docker driver ready')
    return addon
  }

  /** Inspects the sandbox image now; the result is also kept for `image`. */
  async checkImage(): Promise<ImageStatus> {
    const started = performance.now()
    const res = await this.guard('image inspect', () => this.engine.call('GET', `/images/${encodeURIComponent(this.options.image)}/json`))
    const inspectMs = Math.round((performance.now() - started) * 100) / 100
    let status: ImageStatus
    if (res.status === 200) status = { image: this.options.image, present: true, id: (JSON.parse(res.body.toString('utf8')) as { Id: string }).Id, inspectMs }
    else if (res.status === 404) status = { image: this.options.image, present: false, inspectMs }
    else throw new DriverError('unavailable', `image inspect of ${this.options.image}: docker answered ${res.status}`)
    this.lastImage = status
    return status
  }

  async create(spec: SandboxSpec): Promise<SandboxHandle> {
    const addon = await this.ready()
    const { id } = spec
    if (!SANDBOX_ID_RE.test(id)) throw new DriverError('create_failed', `invalid sandbox id ${JSON.stringify(id)}`)
    if (this.lastImage?.present !== true && !(await this.checkImage()).present) {
      throw new DriverError('unavailable', missingImageMessage(this.options.image))
    }
    const createdAt = Date.now()
    const deadline = createdAt + spec.helloTimeoutMs
    const L = this.layout
    try {
      await mkdir(L.sandboxDir(id), { mode: 0o711 })
    } catch (err) {
      const exists = (err as NodeJS.ErrnoException).code === 'EEXIST'
      throw new DriverError('create_failed', exists ? `sandbox ${id} already exists` : `sandbox ${id}: ${(err as Error).message}`, { cause: err })
    }
    const stopWaiting = new AbortController()
    try {
      await chmod(L.sandboxDir(id), 0o711)
      await mkdir(L.sockDir(id), { mode: 0o700 })
      mountSocketDir(addon, L, id, this.options.sandboxUid)
      await mkdir(L.slotDir(id), { mode: 0o755 })
      await mkdir(L.homeDir(id), { mode: 0o755 })
      const o = this.options
      const network = spec.network ? await this.containerNetwork() : undefined
      const body = containerBody({
        id, pool: spec.pool, createdAt, image: o.image, uid: o.sandboxUid, limits: spec.limits, ...(network ? { network } : {}),
        sockDir: L.sockDir(id), slotDir: L.slotDir(id), runtimeDir: L.root,
        nodeFlags: o.nodeFlags, maxOpenFiles: o.maxOpenFiles, seccompProfile: this.seccompProfile,
        shmSizeBytes: o.shmSizeBytes,
      })
      const name = containerName(o.runtimeTag, id)
      const created = await this.guard('container create', () => this.engine.call('POST', `/containers/create?name=${name}`, body))
      if (created.status === 404) {
        this.lastImage = undefined
        throw new DriverError('unavailable', missingImageMessage(o.image))
      }
      if (created.status !== 201) throw new DriverError('create_failed', `container create: docker answered ${created.status} ${created.body.toString('utf8').slice(0, 300)}`)
      const containerId = (JSON.parse(created.body.toString('utf8')) as { Id: string }).Id
      const started = await this.guard('container start', () => this.engine.call('POST', `/containers/${containerId}/start`))
      if (started.status !== 204 && started.status !== 304) {
        throw new DriverError('create_failed', `container start: docker answered ${started.status} ${started.body.toString('utf8').slice(0, 300)}`)
      }
      // Before the agent can be claimed: nothing but the agent runs in the container yet.
      const egressIp = network ? await this.sealNetwork(containerId, network.name) : undefined
      // Resolves if the container stops before its agent said hello.
      const exited = this.engine
        .call('POST', `/containers/${containerId}/wait?condition=not-running`, undefined, { signal: stopWaiting.signal, timeoutMs: spec.helloTimeoutMs + 5_000 })
        .then((r) => `exited (${r.body.toString('utf8').trim()})`, (err: Error) => (err.name === 'AbortError' ? undefined : `could not be watched: ${err.message}`))
      const hello = awaitAgentHello(this.endpoint(addon, id, containerId), deadline, async () => JSON.stringify(await this.logTail(containerId)))
      const outcome = await Promise.race([hello.then(() => undefined), exited.then((e) => e ?? new Promise<never>(() => undefined))])
      if (outcome !== undefined) {
        hello.catch(() => undefined)
        throw new DriverError('exited_early', `sandbox ${id} ${outcome} before hello; agent log: ${JSON.stringify(await this.logTail(containerId))}`)
      }
      stopWaiting.abort()
      const startMs = Date.now() - createdAt
      const ready: ReadyRecord = { id, containerId, startMs, layout: SANDBOX_LAYOUT_VERSION, ...(egressIp ? { egressIp } : {}) }
      await writeJson(L.metaPath(id), ready)
      this.logger.info({ sandboxId: id, pool: spec.pool, containerId: containerId.slice(0, 12), startMs }, 'sandbox created')
      return this.toHandle(id, spec.pool, createdAt, ready)
    } catch (err) {
      stopWaiting.abort()
      const failure = err instanceof DriverError ? err : new DriverError('create_failed', `sandbox ${id}: ${(err as Error).message}`, { cause: err })
      this.logger.warn({ sandboxId: id, reason: failure.reason, err: failure.message }, 'sandbox create failed')
      await this.destroy(id).catch((e: unknown) => this.logger.error({ sandboxId: id, err: (e as Error).message }, 'cleanup after failed create failed'))
      throw failure
    }
  }

  async destroy(id: string): Promise<void> {
    if (!SANDBOX_ID_RE.test(id)) return // cannot name anything of ours
    const addon = await this.ready()
    const name = containerName(this.options.runtimeTag, id)
    await this.removeContainer(name)
    const L = this.layout
    unmountSocketDir(addon, L, id)
    await removeSlot(addon, L, id)
    const existed = existsSync(L.sandboxDir(id))
    await rm(L.sandboxDir(id), { recursive: true, force: true })
    if (existed) this.logger.info({ sandboxId: id }, 'sandbox destroyed')
  }

  /** The driver's network, the generated /etc files and the proxy variables, for a network sandbox. */
  private async containerNetwork(): Promise<ContainerNetwork> {
    // Fails closed: a container on the bridge without the proxy's rules would reach every service of the host.
    if (!this.options.egress) throw new DriverError('unavailable', 'a network sandbox needs the gateway\'s egress proxy (driver option egress): the gateway passes it for network pools')
    await requireEgressRules(this.options.egressNames)
    const net = await this.guard('network', () => this.egressNetwork.ensure())
    return { name: net.name, files: this.netFiles, env: sandboxProxyEnv(this.options.proxyIp) }
  }

  /** Seals a started network container (egress-network.ts) and answers its address. */
  private async sealNetwork(containerId: string, network: string): Promise<string> {
    const info = await this.guard('container inspect', () => this.engine.json<ContainerInspect>('GET', `/containers/${containerId}/json`))
    const pid = info?.State?.Pid
    const ip = info?.NetworkSettings?.Networks?.[network]?.IPAddress
    if (!pid || !ip) throw new DriverError('create_failed', `container ${containerId.slice(0, 12)} has no process or no address on ${network}`)
    await sealContainer(pid, this.options.egressNames.dockerBridge)
    return ip
  }

  /** Force-removes a container (kills it first); absent is fine, removal in progress is awaited. */
  private async removeContainer(name: string): Promise<void> {
    const until = Date.now() + REMOVE_WAIT_MS
    for (;;) {
      const res = await this.guard('container remove', () => this.engine.call('DELETE', `/containers/${name}?force=1&v=1`))
      if (res.status === 204 || res.status === 404) return
      if (res.status !== 409 || Date.now() > until) {
        throw new DriverError('unavailable', `container remove ${name}: docker answered ${res.status} ${res.body.toString('utf8').slice(0, 300)}`)
      }
      await sleep(100) // 409: another removal of it is in progress
    }
  }

  async list(): Promise<SandboxHandle[]> {
    await this.ready()
    const filters = encodeURIComponent(JSON.stringify({ label: [`${LABEL.runtime}=${this.layout.root}`] }))
    const containers = (await this.guard('container list', () => this.engine.json<ContainerSummary[]>('GET', `/containers/json?all=1&filters=${filters}`))) ?? []
    const out: SandboxHandle[] = []
    const known = new Set<string>()
    for (const c of containers) {
      const id = c.Labels[LABEL.sandbox] ?? ''
      if (!SANDBOX_ID_RE.test(id)) continue
      known.add(id)
      const createdAt = Number(c.Labels[LABEL.createdAt] ?? 0)
      const rec = await readJson<ReadyRecord>(this.layout.metaPath(id))
      if (c.State === 'running' && rec?.containerId === c.Id && rec.layout === SANDBOX_LAYOUT_VERSION) {
        out.push(this.toHandle(id, c.Labels[LABEL.pool] ?? '', createdAt, rec))
      } else if (c.State === 'running' && rec?.containerId === c.Id) {
        // Made by an older version (its socket dir is not a gateway tmpfs): never adopted.
        this.logger.warn({ sandboxId: id, layout: rec.layout ?? 1 }, 'recycling a sandbox made by an older version')
        await this.destroy(id).catch((e: unknown) => this.logger.warn({ sandboxId: id, err: (e as Error).message }, 'could not recycle an old sandbox'))
      } else if (c.State !== 'running' && c.State !== 'created' && c.State !== 'restarting') {
        this.logger.info({ sandboxId: id, state: c.State }, 'removing a dead sandbox')
        await this.destroy(id).catch((e: unknown) => this.logger.warn({ sandboxId: id, err: (e as Error).message }, 'could not clean a dead sandbox'))
      } else if (Date.now() - createdAt > ORPHAN_AGE_MS) {
        this.logger.info({ sandboxId: id, state: c.State }, 'removing a sandbox abandoned mid-create')
        await this.destroy(id).catch((e: unknown) => this.logger.warn({ sandboxId: id, err: (e as Error).message }, 'could not clean an abandoned sandbox'))
      }
    }
    // Sandbox dirs whose container is gone (removed from outside, or a crash mid-create).
    for (const id of await readdirIfExists(this.layout.sandboxesDir)) {
      if (known.has(id) || !SANDBOX_ID_RE.test(id)) continue
      const st = await stat(this.layout.sandboxDir(id)).catch(() => undefined)
      const ready = existsSync(this.layout.metaPath(id))
      if (st && (ready || Date.now() - st.mtimeMs > ORPHAN_AGE_MS)) await this.destroy(id).catch(() => undefined)
    }
    return out
  }

  async connect(handle: SandboxHandle): Promise<AgentChannel> {
    const addon = await this.ready()
    const containerId = handle.meta.containerId
    if (!SANDBOX_ID_RE.test(handle.id) || typeof containerId !== 'string') throw new DriverError('unavailable', `sandbox ${handle.id} has no Docker handle`)
    return connectHostAgent(this.endpoint(addon, handle.id, containerId))
  }

  /** The agent of sandbox `id` is whoever listens on its socket from inside its container's cgroup. */
  private endpoint(addon: MountAddon, id: string, containerId: string): AgentEndpoint {
    return {
      addon, sockDir: this.layout.sockDir(id), sandboxId: id,
      checkPeer: async (peer) => ((await cgroupMentions(peer.pid, containerId)) ? undefined : `pid ${peer.pid} is not in container ${containerId.slice(0, 12)}`),
    }
  }

  async bindWorkspace(handle: SandboxHandle, user: string): Promise<WorkspaceBinding> {
    const addon = await this.ready()
    if (!SANDBOX_ID_RE.test(handle.id) || !existsSync(this.layout.metaPath(handle.id))) {
      throw new DriverError('unavailable', `sandbox ${handle.id} does not exist`)
    }
    const o = this.options
    const src = await ensureWorkspace(o.workspacesDir, user, { uid: o.sandboxUid, quotaBytes: o.workspaceQuotaBytes, logger: this.logger })
    addon.bind(src, this.layout.homeDir(handle.id))
    return { home: HOME_IN_SANDBOX }
  }

  async teardown(): Promise<void> {
    const addon = await this.ready()
    const L = this.layout
    const filters = encodeURIComponent(JSON.stringify({ label: [`${LABEL.runtime}=${L.root}`] }))
    const containers = (await this.guard('container list', () => this.engine.json<ContainerSummary[]>('GET', `/containers/json?all=1&filters=${filters}`))) ?? []
    for (const c of containers) await this.destroy(c.Labels[LABEL.sandbox] ?? '')
    for (const id of await readdirIfExists(L.sandboxesDir)) await this.destroy(id)
    await this.egressNetwork.remove()
    await removeAllSlots(addon, L)
    // After the slots: a workspace image's loop device is freed once no sandbox has it bound.
    const images = await unmountWorkspaceImages(this.options.workspacesDir, addon, this.logger)
    await rm(L.root, { recursive: true, force: true })
    this.initialized = undefined
    this.logger.info({ runtimeDir: L.root, unmountedWorkspaceImages: images }, 'docker driver torn down')
  }

  private async ready(): Promise<MountAddon> {
    await this.init()
    return this.initialized!
  }

  /** Runs an engine call; a daemon that does not answer becomes DriverError('unavailable') with what to do. */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof EngineUnreachable) {
        throw new DriverError('unavailable', `${what}: ${err.message}; start the daemon (dockerd) and sandboxes start again by themselves`, { cause: err })
      }
      if (err instanceof EngineError) throw new DriverError(failureOf(err.status), `${what}: ${err.message}`, { cause: err })
      throw err
    }
  }

  private async logTail(containerId: string): Promise<string> {
    try {
      return (await this.engine.logTail(containerId)).trim().slice(-2_000)
    } catch {
      return '(none)'
    }
  }

  private toHandle(id: string, pool: string, createdAt: number, rec: ReadyRecord): SandboxHandle {
    return {
      id, pool, driver: 'docker', createdAt,
      address: { kind: 'unix', path: this.layout.socketPath(id) },
      meta: { containerId: rec.containerId, image: this.options.image, runtimeDir: this.layout.root, ...(rec.egressIp ? { egressIp: rec.egressIp } : {}) },
      startMs: rec.startMs,
    }
  }
}

function failureOf(status: number): SandboxFailureReason {
  return status >= 500 ? 'unavailable' : 'create_failed'
}

async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp`
  await writeFile(tmp, JSON.stringify(value), { mode: 0o600 })
  await rename(tmp, path)
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T
  } catch {
    return undefined
  }
}

function missingImageMessage(image: string): string {
  return `image ${image} is not on the Docker engine: run \`npm run image:local\` (or docker pull/load it); no sandbox can start without it`
}
