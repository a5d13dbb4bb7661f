import type { Readable } from 'node:stream'
import {
  MAX_OPEN_OPS, MAX_OP_ID, StreamFd, type OpAnswer, type OpErrorCode, type OpRequest,
} from '@infra-lab/protocol'
import {
  AgentOpError, type AgentOpErrorCode, type AgentOps, type ExecExit, type ExecHandle, type ExecSignal, type ExecSpec,
  type OutputChunk, type OutputStream, type ProcessInfo, type ReadResult,
} from './agent-ops.ts'
import { InboundStreams, OutboundStream, ProtocolViolation, type FrameSink, type InboundChunk } from './streams.ts'

// The protocol's error codes are the contract's, both ways.
const sameCodes: [AgentOpErrorCode] extends [OpErrorCode] ? ([OpErrorCode] extends [AgentOpErrorCode] ? true : never) : never = true
void sameCodes

/** What the client needs of the channel: frames out, and control messages out. */
export interface OpsLink extends FrameSink {
  sendOp(message: OpRequest): void
}

type Answer<T extends OpAnswer['type']> = Extract<OpAnswer, { type: T }>

/** One open operation as the gateway tracks it until the agent's last answer. */
interface Op {
  /** Answers that end this operation (op_error ends any). */
  readonly terminal: ReadonlySet<OpAnswer['type']>
  /** Handles an answer; throws ProtocolViolation for one out of place. */
  answer(m: OpAnswer): void
  /** After a cancel: the terminal answer still settles what waits for it (an exec's exit). */
  afterCancel?(m: OpAnswer): void
  inbound?: InboundStreams
  outbound?: OutboundStream
  cancelled?: boolean
  /** Bytes arrived on `inbound` (a file read checks them against the announced size). */
  onData?(bytes: number): void
  close(err: Error): void
}

interface Started {
  readonly started: Answer<'started'>
  readonly output: OutputStream | undefined
  /** The terminal answer; rejects with the agent's op_error or the channel's close. */
  readonly ended: Promise<OpAnswer>
}

const toOutputChunk = (c: InboundChunk): OutputChunk => ({ stream: c.fd === StreamFd.STDERR ? 'stderr' : 'stdout', data: c.data })
const toBytes = (c: InboundChunk): Buffer => c.data
const opError = (m: Answer<'op_error'>) => new AgentOpError(m.code, m.message)
const outOfPlace = (m: OpAnswer, what: string) => new ProtocolViolation(`${m.type} for operation ${m.opId}, which is ${what}`)

/**
 * AgentOps over one agent channel: every call is an operation with its own id, its bytes in
 * their own flow-controlled streams (streams.ts). Every answer from the agent is checked against
 * what that operation may receive at that point; anything else is a ProtocolViolation, which the
 * channel turns into its close.
 */
export class AgentOpsClient implements AgentOps {
  private readonly ops = new Map<number, Op>()
  private nextId = 1
  private closedWith: Error | undefined

  constructor(private readonly link: OpsLink) {}

  get openOps(): number {
    return this.ops.size
  }

  // ---- from the channel ----------------------------------------------------------------

  handleAnswer(m: OpAnswer): void {
    const op = this.ops.get(m.opId)
    if (!op) throw outOfPlace(m, 'not open')
    const ends = op.terminal.has(m.type) || m.type === 'op_error' || (op.cancelled === true && m.type === 'done')
    if (op.cancelled) {
      // What was in flight still arrives; only its end matters.
      if (!ends && m.type !== 'started' && m.type !== 'file') throw outOfPlace(m, 'cancelled')
      if (ends) {
        this.ops.delete(m.opId)
        op.afterCancel?.(m)
      }
      return
    }
    // Out of place: it throws, the operation stays, and the channel's close fails it.
    op.answer(m)
    if (ends) this.ops.delete(m.opId)
  }

  handleStream(opId: number, fd: number, data: Buffer): void {
    const op = this.ops.get(opId)
    if (!op?.inbound) throw new ProtocolViolation(`stream bytes for operation ${opId}, which takes none now`)
    op.inbound.push(fd, data)
    op.onData?.(data.length)
  }

  handleCredit(opId: number, fd: number, bytes: number): void {
    const op = this.ops.get(opId)
    if (!op?.outbound || fd !== StreamFd.STDIN) throw new ProtocolViolation(`credit for operation ${opId} fd ${fd}, which sends nothing`)
    op.outbound.grant(bytes)
  }

  /** The channel closed: every open operation fails with `err`. */
  close(err: Error): void {
    this.closedWith ??= err
    const ops = [...this.ops.values()]
    this.ops.clear()
    for (const op of ops) {
      op.outbound?.stop(err)
      op.inbound?.fail(err)
      op.close(err)
    }
  }

  // ---- AgentOps ------------------------------------------------------------------------

  async exec(spec: ExecSpec): Promise<ExecHandle> {
    const { started, output, ended } = await this.startStreaming(
      (opId) => ({
        type: 'exec', opId, cmd: typeof spec.cmd === 'string' ? spec.cmd : [...spec.cmd], ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
        env: { ...spec.env }, stdin: spec.stdin !== undefined, timeoutMs: spec.timeoutMs, background: spec.background, tty: spec.tty,
      }),
      'exec_exit', spec.background ? [] : [StreamFd.STDOUT, StreamFd.STDERR], spec.stdin,
    )
    const exit = ended.then((m): ExecExit => {
      if (m.type !== 'exec_exit') throw new AgentOpError('internal', `exec ended with ${m.type}`)
      return { exitCode: m.exitCode, signal: m.signal, timedOut: m.timedOut, durationMs: m.durationMs }
    })
    exit.catch(() => undefined) // a background exec's exit nobody awaits is no unhandled rejection
    return { processId: started.processId, pid: started.pid, output, exit }
  }

  async listProcesses(): Promise<ProcessInfo[]> {
    const m = await this.request({ type: 'list_processes', opId: 0 }, 'process_list')
    return m.processes
  }

  async processOutput(processId: string, follow: boolean): Promise<OutputStream> {
    const { output, ended } = await this.startStreaming(
      (opId) => ({ type: 'process_output', opId, processId, follow }), 'done', [StreamFd.STDOUT, StreamFd.STDERR],
    )
    ended.catch(() => undefined) // reported through the stream
    return output!
  }

  async writeStdin(processId: string, body: Readable, close = false): Promise<{ bytes: number }> {
    const m = await this.request({ type: 'process_stdin', opId: 0, processId, close }, 'done', { body, maxBytes: Infinity })
    return { bytes: m.bytes ?? 0 }
  }

  async signalProcess(processId: string, signal: ExecSignal): Promise<void> {
    await this.request({ type: 'process_signal', opId: 0, processId, signal }, 'done')
  }

  readPath(path: string): Promise<ReadResult> {
    return new Promise<ReadResult>((resolve, reject) => {
      let size = 0
      let received = 0
      let opId = 0
      const op: Op = {
        terminal: new Set(['dir', 'done']),
        answer: (m) => {
          if (m.type === 'op_error') return op.inbound ? op.inbound.fail(opError(m)) : reject(opError(m))
          if (m.type === 'dir' && !op.inbound) return resolve({ kind: 'dir', entries: m.entries, truncated: m.truncated })
          if (m.type === 'file' && !op.inbound) {
            size = m.size
            op.inbound = new InboundStreams(opId, this.link, [StreamFd.STDOUT], toBytes, false, () => this.cancel(opId))
            return resolve({ kind: 'file', size, data: op.inbound.readable })
          }
          if (m.type === 'done' && op.inbound) {
            if (received !== size) throw new ProtocolViolation(`operation ${opId} announced ${size} bytes and sent ${received}`)
            return op.inbound.end()
          }
          throw outOfPlace(m, 'a read')
        },
        onData: (bytes) => {
          received += bytes
          if (received > size) throw new ProtocolViolation(`operation ${opId} announced ${size} bytes and sent more`)
        },
        close: reject,
      }
      opId = this.start(op, { type: 'read_path', opId: 0, path }, reject)
    })
  }

  async writeFile(path: string, body: Readable, maxBytes: number): Promise<{ path: string; size: number }> {
    const m = await this.request({ type: 'write_file', opId: 0, path }, 'written', { body, maxBytes })
    return { path: m.path, size: m.size }
  }

  async removePath(path: string, recursive: boolean): Promise<void> {
    await this.request({ type: 'remove_path', opId: 0, path, recursive }, 'done')
  }

  // ---- operation plumbing ---------------------------------------------------------------

  /** Registers `op` under a fresh id and sends its request; returns the id (0: refused, `reject` called). */
  private start(op: Op, message: OpRequest, reject: (err: Error) => void): number {
    if (this.closedWith) return reject(this.closedWith), 0
    if (this.ops.size >= MAX_OPEN_OPS) return reject(new AgentOpError('internal', `more than ${MAX_OPEN_OPS} operations open on this sandbox`)), 0
    let id = this.nextId
    while (this.ops.has(id)) id = id >= MAX_OP_ID ? 1 : id + 1
    this.nextId = id >= MAX_OP_ID ? 1 : id + 1
    this.ops.set(id, op)
    this.link.sendOp({ ...message, opId: id })
    return id
  }

  /** Stops an operation's streams: its bytes in flight are dropped, and it ends with the agent's answer. */
  private cancel(opId: number): void {
    const op = this.ops.get(opId)
    if (!op || op.cancelled) return
    op.cancelled = true
    op.inbound?.discard()
    op.outbound?.stop(new AgentOpError('internal', 'cancelled'))
    if (!this.link.isClosed) this.link.sendOp({ type: 'cancel', opId })
  }

  /** Sends `body` on fd 0 of `opId`; a body that fails or is too large cancels the operation and rejects. */
  private upload(op: Op, opId: number, body: Readable | Buffer, maxBytes: number, reject: (err: Error) => void): { sent?: number } {
    const state: { sent?: number } = {}
    op.outbound = new OutboundStream(opId, this.link)
    const tooLarge = () => new AgentOpError('too_large', `the body is larger than ${maxBytes} bytes`)
    op.outbound.send(body, maxBytes, tooLarge).then((n) => (state.sent = n), (err: Error) => {
      if (!this.ops.has(opId) || op.cancelled) return // ended by the agent's answer, or the channel
      this.cancel(opId)
      reject(err)
    })
    return state
  }

  /** An operation answered by one message; with `upload`, its body goes on fd 0 first. */
  private request<T extends OpAnswer['type']>(message: OpRequest, answer: T, upload?: { body: Readable; maxBytes: number }): Promise<Answer<T>> {
    return new Promise<Answer<T>>((resolve, reject) => {
      let sending: { sent?: number } = {}
      const op: Op = {
        terminal: new Set([answer]),
        answer: (m) => {
          op.outbound?.stop(new AgentOpError('internal', 'the operation ended'))
          if (m.type === 'op_error') return reject(opError(m))
          if (m.type !== answer) throw outOfPlace(m, `waiting for ${answer}`)
          if (m.type === 'written' && m.size !== sending.sent) throw outOfPlace(m, `sent ${sending.sent ?? 'not yet all'} bytes`)
          resolve(m as Answer<T>)
        },
        close: reject,
      }
      const opId = this.start(op, message, reject)
      if (opId !== 0 && upload) sending = this.upload(op, opId, upload.body, upload.maxBytes, reject)
    })
  }

  /**
   * An operation that starts (`started`), then streams output on `fds` until `terminal`;
   * `stdin` goes on fd 0.
   */
  private startStreaming(build: (opId: number) => OpRequest, terminal: OpAnswer['type'], fds: number[], stdin?: Buffer): Promise<Started> {
    return new Promise<Started>((resolve, reject) => {
      const end = deferred<OpAnswer>()
      let opId = 0
      const op: Op = {
        terminal: new Set([terminal]),
        answer: (m) => {
          if (m.type === 'started' && !op.inbound && !end.started) {
            end.started = true
            if (fds.length > 0) op.inbound = new InboundStreams(opId, this.link, fds, toOutputChunk, true, () => this.cancel(opId))
            return resolve({ started: m, output: op.inbound?.readable, ended: end.promise })
          }
          if (m.type === 'op_error') {
            op.outbound?.stop(opError(m))
            op.inbound?.fail(opError(m))
            end.reject(opError(m))
            return reject(opError(m))
          }
          if (!end.started) throw outOfPlace(m, 'not started')
          if (m.type !== terminal) throw outOfPlace(m, 'running')
          op.inbound?.end()
          end.resolve(m)
        },
        afterCancel: (m) => (m.type === 'op_error' ? end.reject(opError(m)) : end.resolve(m)),
        close: (err) => {
          end.reject(err)
          reject(err)
        },
      }
      opId = this.start(op, build(0), reject)
      if (opId !== 0 && stdin !== undefined) this.upload(op, opId, stdin, Infinity, () => undefined) // the operation ends by its answers
    })
  }
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void; started: boolean } {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => undefined) // handled by whoever awaits it, if anyone does
  return { promise, resolve, reject, started: false }
}
