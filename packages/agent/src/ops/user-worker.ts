import { spawn, type ChildProcess } from 'node:child_process'
import type { OpRequest } from '@infra-lab/protocol'
import { FRAME_HEADER_BYTES, FrameDecoder, FrameKind, encodeControl, encodeFrame } from '@infra-lab/protocol/frame'
import { MAX_OPEN_OPS, MAX_OP_ID, STREAM_WINDOW_BYTES } from '@infra-lab/protocol/ops-limits'
import { log } from '../log.ts'
import { SETPRIV_PATH } from '../user-workspace.ts'
import type { ClaimContext } from './exec-env.ts'
import type { OpsSink } from './op-link.ts'
import type { OpsChannel, OpsEndpoint } from './ops-endpoint.ts'
import type { WorkerClaim } from './worker-main.ts'

/** Answers that end an operation, whatever its kind ('started' and 'file' do not). */
const TERMINAL = new Set(['exec_exit', 'op_error', 'process_list', 'dir', 'written', 'done'])
const ANSWERS = new Set([...TERMINAL, 'started', 'file'])
const WORKER_START_DELAY_MS = 250

export interface UserWorkerSettings {
  /** node and its flags, and the agent bundle: the worker is `<entry> --ops-worker ...`. */
  readonly entry: readonly string[]
  readonly helperPath: string
  readonly shellPath: string
  readonly baseEnv: Readonly<Record<string, string>>
}

/** One gateway connection, as the relay knows it: its operation ids and ours. */
interface RelayConn {
  readonly sink: OpsSink
  /** Its operation id -> the id the worker knows it by. */
  readonly ids: Map<number, number>
  open: boolean
}

/**
 * The operations of a root agent (ECS: `--workspaces-root`): never run as root. After the claim
 * (at the first operation, or a moment later) a worker is started through the same drop as the
 * user's shell (setpriv to the user's uid and gid, no groups, no capabilities, no_new_privs), and
 * every operation frame is relayed to it and back. The root agent never opens a user's path nor
 * runs a user's program; nothing of the caller's (env, secrets) is in a root process's argv or
 * environment: the claim goes down the pipe. What comes back is the user's (the user may tamper
 * with the worker): only operation frames pass, and a worker that sends anything else is killed.
 * When the worker dies, its open operations fail with `internal`, and the next operation starts
 * a new one.
 *
 * Several gateway connections share the one worker: each operation gets an id of the relay's
 * (unique over the connections) on its way down, and its own back on its way up, so an answer
 * reaches only the connection that asked. When a connection closes its operations are cancelled
 * in the worker and whatever they still send is dropped.
 */
export class UserWorkerRelay implements OpsEndpoint {
  private claim: Promise<(ClaimContext & { uid?: number }) | undefined> | undefined
  private context: (ClaimContext & { uid?: number }) | undefined
  private settled = false
  private worker: ChildProcess | undefined
  /** Frames for the worker before it exists (the claim is still being applied). */
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** The worker's operation id -> the connection and its own id. */
  private readonly routes = new Map<number, { conn: RelayConn; opId: number }>()
  private lastId = 0

  constructor(private readonly settings: UserWorkerSettings) {}

  setClaim(claim: Promise<(ClaimContext & { uid?: number }) | undefined>): void {
    this.claim = claim
    void claim.then((context) => {
      this.context = context
      this.settled = true
      if (context?.uid === undefined) return this.failOpen('not_claimed', 'the sandbox has no session')
      // Started by the first operation, or shortly after the claim: not on the claim's path,
      // where a fork would delay the user's first prompt.
      if (this.pending.length > 0) this.start()
      else setTimeout(() => this.start(), WORKER_START_DELAY_MS).unref()
    })
  }

  connect(sink: OpsSink): OpsChannel {
    const conn: RelayConn = { sink, ids: new Map(), open: true }
    return {
      request: (m) => this.request(conn, m),
      frame: (kind, payload) => this.frame(conn, kind, payload),
      close: () => this.close(conn),
    }
  }

  private request(conn: RelayConn, m: OpRequest): void {
    if (!conn.open) return
    const unclaimed = !this.claim || (this.settled && this.context?.uid === undefined)
    if (m.type === 'cancel') {
      const id = conn.ids.get(m.opId)
      return unclaimed || id === undefined ? undefined : this.forward(encodeControl({ ...m, opId: id }))
    }
    if (unclaimed) return conn.sink.write(encodeControl({ type: 'op_error', opId: m.opId, code: 'not_claimed', message: 'the sandbox has no session' }))
    // A gateway never reuses an open id; answering would reach the operation that holds it.
    if (conn.ids.has(m.opId)) return log('op_id_reused', { opId: m.opId })
    if (conn.ids.size >= MAX_OPEN_OPS) return conn.sink.write(encodeControl({ type: 'op_error', opId: m.opId, code: 'internal', message: `more than ${MAX_OPEN_OPS} operations open` }))
    const id = this.nextId()
    conn.ids.set(m.opId, id)
    this.routes.set(id, { conn, opId: m.opId })
    this.forward(encodeControl({ ...m, opId: id }))
  }

  /** A STREAM or CREDIT frame of `conn`'s, under the worker's id for its operation. */
  private frame(conn: RelayConn, kind: number, payload: Buffer): void {
    if (!conn.open || payload.length < 4) return
    const id = conn.ids.get(payload.readUInt32BE(0))
    if (id === undefined) return
    const out = encodeFrame(kind as FrameKind, payload)
    out.writeUInt32BE(id, FRAME_HEADER_BYTES)
    this.forward(out)
  }

  /** The connection is gone: its operations are cancelled in the worker; what they still send is dropped. */
  private close(conn: RelayConn): void {
    if (!conn.open) return
    conn.open = false
    for (const id of conn.ids.values()) {
      this.routes.delete(id)
      if (this.worker || this.pending.length > 0) this.forward(encodeControl({ type: 'cancel', opId: id }))
    }
    conn.ids.clear()
  }

  /** An id no open operation holds (1 to MAX_OP_ID; 0 is never used). */
  private nextId(): number {
    do {
      this.lastId = this.lastId >= MAX_OP_ID ? 1 : this.lastId + 1
    } while (this.routes.has(this.lastId))
    return this.lastId
  }

  private forward(frame: Buffer): void {
    if (this.worker) return void this.worker.stdin!.write(frame)
    if (this.context?.uid !== undefined) {
      this.start()
      return void this.worker!.stdin!.write(frame)
    }
    if (!this.settled && this.claim) {
      // Bounded like any receiver: the gateway sends no more than a window per operation.
      this.pendingBytes += frame.length
      if (this.pendingBytes > 16 * STREAM_WINDOW_BYTES) return this.failOpen('internal', 'too much sent before the claim was applied')
      this.pending.push(frame)
    }
  }

  private start(): void {
    if (this.worker || this.context?.uid === undefined) return
    const { uid, ...claim } = this.context
    const worker = spawn(SETPRIV_PATH, [
      `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all', '--no-new-privs', '--',
      ...this.settings.entry, '--ops-worker', '--exec-helper', this.settings.helperPath, '--shell', this.settings.shellPath,
    ], { cwd: '/', env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' }, stdio: ['pipe', 'pipe', 'inherit'] })
    this.worker = worker
    worker.stdin!.on('error', () => undefined) // its exit is reported below
    const hello: WorkerClaim = { type: 'worker_claim', claim, baseEnv: { ...this.settings.baseEnv } }
    worker.stdin!.write(encodeControl(hello))
    for (const frame of this.pending) worker.stdin!.write(frame)
    this.pending = []
    this.pendingBytes = 0
    const decoder = new FrameDecoder()
    worker.stdout!.on('data', (chunk: Buffer) => {
      try {
        for (const f of decoder.push(chunk)) this.fromWorker(f.kind, f.payload)
      } catch (err) {
        log('user_worker_bad_frame', { message: (err as Error).message })
        worker.kill('SIGKILL')
      }
    })
    worker.on('error', (err) => log('user_worker_error', { message: err.message }))
    worker.on('exit', (code, signal) => {
      log('user_worker_exit', { code, signal })
      if (this.worker === worker) this.worker = undefined
      this.failOpen('internal', 'the operations worker exited')
    })
  }

  private fromWorker(kind: number, payload: Buffer): void {
    if (kind === FrameKind.CONTROL) {
      const message = (JSON.parse(payload.toString('utf8')) ?? {}) as { type?: unknown; opId?: unknown }
      if (typeof message.type !== 'string' || !ANSWERS.has(message.type)) throw new Error('a control message that is not an answer')
      if (typeof message.opId !== 'number') throw new Error('an answer without an operation id')
      const route = this.routes.get(message.opId)
      if (!route) return // its connection is gone
      if (TERMINAL.has(message.type)) {
        this.routes.delete(message.opId)
        route.conn.ids.delete(route.opId)
      }
      return route.conn.sink.write(encodeControl({ ...message, opId: route.opId }))
    }
    if (kind !== FrameKind.STREAM && kind !== FrameKind.CREDIT) throw new Error(`a frame of kind ${kind}`)
    if (payload.length < 4) throw new Error('a stream frame without an operation id')
    const route = this.routes.get(payload.readUInt32BE(0))
    if (!route) return
    const out = encodeFrame(kind as FrameKind, payload)
    out.writeUInt32BE(route.opId, FRAME_HEADER_BYTES)
    route.conn.sink.write(out)
  }

  /** Every operation still open ends with this error (the worker is gone, or cannot start). */
  private failOpen(code: 'internal' | 'not_claimed', message: string): void {
    for (const [id, { conn, opId }] of this.routes) {
      conn.ids.delete(opId)
      this.routes.delete(id)
      conn.sink.write(encodeControl({ type: 'op_error', opId, code, message }))
    }
    this.pending = []
    this.pendingBytes = 0
  }
}
