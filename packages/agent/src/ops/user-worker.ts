import { spawn, type ChildProcess } from 'node:child_process'
import type { OpRequest } from '@infra-lab/protocol'
import { FrameDecoder, FrameKind, encodeControl, encodeFrame } from '@infra-lab/protocol/frame'
import { STREAM_WINDOW_BYTES } from '@infra-lab/protocol/ops-limits'
import { log } from '../log.ts'
import { SETPRIV_PATH } from '../user-workspace.ts'
import type { ClaimContext } from './exec-env.ts'
import type { OpsSink } from './op-link.ts'
import type { OpsEndpoint } from './ops-endpoint.ts'
import type { WorkerClaim } from './worker-main.ts'

/** Answers that end an operation, whatever its kind ('started' and 'file' do not). */
const TERMINAL = new Set(['exec_exit', 'op_error', 'process_list', 'dir', 'written', 'done'])
const ANSWERS = new Set([...TERMINAL, 'started', 'file'])

export interface UserWorkerSettings {
  /** node and its flags, and the agent bundle: the worker is `<entry> --ops-worker ...`. */
  readonly entry: readonly string[]
  readonly helperPath: string
  readonly shellPath: string
  readonly baseEnv: Readonly<Record<string, string>>
}

/**
 * The operations of a root agent (ECS: `--workspaces-root`): never run as root. After the claim
 * a worker is started through the same drop as the user's shell (setpriv to the user's uid and
 * gid, no groups, no capabilities, no_new_privs), and every operation frame is relayed to it
 * and back. The root agent never opens a user's path nor runs a user's program; nothing of the
 * caller's (env, secrets) is in a root process's argv or environment: the claim goes down the
 * pipe. What comes back is the user's (the user may tamper with the worker): only operation
 * frames pass, and a worker that sends anything else is killed. When the worker dies, its open
 * operations fail with `internal`, and the next operation starts a new one.
 */
export class UserWorkerRelay implements OpsEndpoint {
  private claim: Promise<(ClaimContext & { uid?: number }) | undefined> | undefined
  private context: (ClaimContext & { uid?: number }) | undefined
  private settled = false
  private worker: ChildProcess | undefined
  private conn: OpsSink | undefined
  /** Frames for the worker before it exists (the claim is still being applied). */
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Resets the worker has not acknowledged yet: what it sends meanwhile belongs to a gone connection. */
  private resets = 0
  private readonly open = new Set<number>()

  constructor(private readonly settings: UserWorkerSettings) {}

  setClaim(claim: Promise<(ClaimContext & { uid?: number }) | undefined>): void {
    this.claim = claim
    void claim.then((context) => {
      this.context = context
      this.settled = true
      if (context?.uid !== undefined) this.start()
      else this.failOpen('not_claimed', 'the sandbox has no session')
    })
  }

  connect(sink: OpsSink): void {
    this.disconnect()
    this.conn = sink
  }

  disconnect(): void {
    this.conn = undefined
    this.open.clear()
    this.pending = []
    this.pendingBytes = 0
    if (this.worker) {
      this.resets++
      this.worker.stdin!.write(encodeControl({ type: 'worker_reset' }))
    }
  }

  request(m: OpRequest): void {
    const unclaimed = !this.claim || (this.settled && this.context?.uid === undefined)
    if (m.type === 'cancel') return unclaimed ? undefined : this.forward(encodeControl(m))
    if (unclaimed) return this.conn?.write(encodeControl({ type: 'op_error', opId: m.opId, code: 'not_claimed', message: 'the sandbox has no session' }))
    this.open.add(m.opId)
    this.forward(encodeControl(m))
  }

  frame(kind: number, payload: Buffer): void {
    this.forward(encodeFrame(kind as FrameKind, payload))
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
    this.resets = 0
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
      const { type, opId } = (JSON.parse(payload.toString('utf8')) ?? {}) as { type?: unknown; opId?: unknown }
      if (type === 'worker_reset_done' && this.resets > 0) return void this.resets--
      if (typeof type !== 'string' || !ANSWERS.has(type)) throw new Error('a control message that is not an answer')
      if (this.resets > 0) return
      if (TERMINAL.has(type) && typeof opId === 'number') this.open.delete(opId)
    } else if (kind !== FrameKind.STREAM && kind !== FrameKind.CREDIT) {
      throw new Error(`a frame of kind ${kind}`)
    } else if (this.resets > 0) {
      return
    }
    this.conn?.write(encodeFrame(kind as FrameKind, payload))
  }

  /** Every operation still open ends with this error (the worker is gone, or cannot start). */
  private failOpen(code: 'internal' | 'not_claimed', message: string): void {
    for (const opId of this.open) this.conn?.write(encodeControl({ type: 'op_error', opId, code, message }))
    this.open.clear()
    this.pending = []
    this.pendingBytes = 0
  }
}
