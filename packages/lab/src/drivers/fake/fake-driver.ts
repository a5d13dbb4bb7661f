import { mkdtempSync, rmSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentChannel } from '../channel.ts'
import { DriverError, type SandboxDriver, type SandboxHandle, type SandboxSpec, type WorkspaceBinding } from '../types.ts'
import { FakeAgent } from './fake-agent.ts'

export interface FakeDriverOptions {
  /** Delay before the fake agent starts listening, in ms (real time). */
  startDelayMs?: number
  /** Fail creates: always, or for the n-th create (1-based). */
  failCreates?: boolean | ((n: number) => boolean)
  /** Agents accept connections but never say hello (creates then fail with hello_timeout). */
  neverHello?: boolean
  /** Fail workspace binds (a sandbox broken at claim time): always, or for the n-th bind (1-based). */
  failBinds?: boolean | ((n: number) => boolean)
  /** Where the sandboxes live; share one between driver instances to simulate a gateway restart. */
  host?: FakeHost
  /** Agents leave operations unanswered (instead of failing each with `internal`): for protocol tests that answer themselves. */
  silentOps?: boolean
}

interface Live {
  readonly handle: SandboxHandle
  readonly agent: FakeAgent
}

/** The machine the fake sandboxes run on: they outlive any one FakeDriver instance. */
export class FakeHost {
  readonly live = new Map<string, Live>()
  private dir: string | undefined

  socketDir(): string {
    this.dir ??= mkdtempSync(join(tmpdir(), 'lab-fake-'))
    return this.dir
  }

  removeDir(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true })
    this.dir = undefined
  }
}

/**
 * A SandboxDriver for tests without root: every sandbox is a FakeAgent in this process,
 * listening on a unix socket in a temp dir. Knobs make creates slow, failing or silent.
 */
export class FakeDriver implements SandboxDriver {
  readonly name = 'fake' as const
  readonly options: FakeDriverOptions
  /** Creates attempted so far (including failed ones). */
  createCalls = 0
  /** Workspace binds attempted so far (including failed ones). */
  bindCalls = 0
  /** Creates in progress now, and the most there ever were at once. */
  inFlight = 0
  maxInFlight = 0
  readonly destroyed: string[] = []
  readonly host: FakeHost
  private readonly live: Map<string, Live>

  constructor(options: FakeDriverOptions = {}) {
    this.options = { ...options }
    this.host = options.host ?? new FakeHost()
    this.live = this.host.live
  }

  /** Changes knobs between calls (e.g. let creates succeed again). */
  set(options: Partial<FakeDriverOptions>): void {
    Object.assign(this.options, options)
  }

  async init(): Promise<void> {
    this.host.socketDir()
  }

  async create(spec: SandboxSpec): Promise<SandboxHandle> {
    const n = ++this.createCalls
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    try {
      const fail = this.options.failCreates
      if (fail === true || (typeof fail === 'function' && fail(n))) {
        throw new DriverError('create_failed', `fake create #${n} of ${spec.id} failed (failCreates)`)
      }
      const createdAt = Date.now()
      if (this.options.startDelayMs) await new Promise((r) => setTimeout(r, this.options.startDelayMs))
      const path = join(this.host.socketDir(), `${spec.id}.sock`)
      const agent = new FakeAgent(spec.id, path, { neverHello: this.options.neverHello ?? false, silentOps: this.options.silentOps ?? false })
      await agent.listen()
      const handle: SandboxHandle = {
        id: spec.id, pool: spec.pool, driver: 'fake', createdAt, address: { kind: 'unix', path }, meta: { fake: true },
      }
      try {
        const probe = await openChannel(path, spec.helloTimeoutMs, spec.id)
        probe.close()
      } catch (err) {
        await agent.close()
        throw new DriverError('hello_timeout', `fake sandbox ${spec.id} said no hello within ${spec.helloTimeoutMs} ms`, { cause: err })
      }
      const started = { ...handle, startMs: Date.now() - createdAt }
      this.live.set(spec.id, { handle: started, agent })
      return started
    } finally {
      this.inFlight--
    }
  }

  async destroy(id: string): Promise<void> {
    const live = this.live.get(id)
    if (!live) return
    this.live.delete(id)
    this.destroyed.push(id)
    await live.agent.close()
  }

  /** Simulates a sandbox killed from outside: its agent vanishes without a destroy call. */
  async kill(id: string): Promise<void> {
    const live = this.live.get(id)
    if (!live) throw new Error(`no fake sandbox ${id}`)
    this.live.delete(id)
    await live.agent.close()
  }

  async list(): Promise<SandboxHandle[]> {
    return [...this.live.values()].map((l) => l.handle)
  }

  /** The fake agent of a live sandbox, for assertions. */
  agent(id: string): FakeAgent | undefined {
    return this.live.get(id)?.agent
  }

  async connect(handle: SandboxHandle): Promise<AgentChannel> {
    if (handle.address.kind !== 'unix') throw new DriverError('unavailable', `fake sandbox ${handle.id} has no unix address`)
    try {
      return await openChannel(handle.address.path, 5000, handle.id)
    } catch (err) {
      throw new DriverError('unavailable', `cannot reach fake sandbox ${handle.id}: ${(err as Error).message}`, { cause: err })
    }
  }

  async bindWorkspace(handle: SandboxHandle, user: string): Promise<WorkspaceBinding> {
    const n = ++this.bindCalls
    if (!this.live.has(handle.id)) throw new DriverError('unavailable', `fake sandbox ${handle.id} is gone`)
    const fail = this.options.failBinds
    if (fail === true || (typeof fail === 'function' && fail(n))) {
      throw new DriverError('unavailable', `fake bind #${n} into ${handle.id} failed (failBinds)`)
    }
    return { home: `/home/${user}` }
  }

  async teardown(): Promise<void> {
    await Promise.all([...this.live.keys()].map((id) => this.destroy(id)))
    this.host.removeDir()
  }
}

function openChannel(path: string, timeoutMs: number, sandboxId: string): Promise<AgentChannel> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(path)
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.off('error', reject)
      AgentChannel.open(socket, timeoutMs, { sandboxId }).then(resolve, reject)
    })
  })
}
