import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import {
  FrameDecoder, FrameKind, MAX_STREAM_CHUNK_BYTES, PROTOCOL_VERSION, agentMessageSchema, decodeCredit, decodeSnapshot, decodeStream,
  encodeControl, encodeFrame, type AgentMessage, type Claim, type GatewayMessage, type Hello, OP_ANSWER_TYPES, type OpAnswer, type Ready,
} from '@infra-lab/protocol'
import type { AgentOps } from './agent-ops.ts'
import { AgentOpsClient } from './agent-ops-client.ts'
import { ProtocolViolation } from './streams.ts'

export interface AgentChannelEvents {
  /** A control message other than hello and the operations' answers (ready, exit, error, pong). */
  message: [AgentMessage]
  /**
   * Shell output bytes: a view into the socket read that carried them (no copy), which a
   * listener may keep; keeping a small part of a large read keeps the whole read.
   */
  output: [Buffer]
  snapshot: [number, Buffer]
  /** The connection ended; `error` is set when it broke rather than closed. */
  close: [Error | undefined]
}

export class ChannelError extends Error {
  override readonly name: string = 'ChannelError'
}

/**
 * The agent broke the protocol (a frame that does not decode, a control message that is not one
 * of the agent's, a hello for another sandbox). The agent runs inside the sandbox, so this is
 * hostile input: the channel closes with this error and the sandbox is treated as compromised.
 */
export class ChannelProtocolError extends ChannelError {
  override readonly name = 'ChannelProtocolError'
}

/** What the gateway expects of the agent at the other end. */
export interface ChannelExpectations {
  /** The hello must name this sandbox. */
  readonly sandboxId?: string
  /** The listener's pid in the gateway's namespaces (SO_PEERCRED), when the driver knows it. */
  readonly peerPid?: number
}

/**
 * One connection to one sandbox's agent, over any stream socket (unix socket locally, TLS on
 * ECS). Frames are decoded in order, so a snapshot answer is exactly the output before it.
 */
export class AgentChannel extends EventEmitter<AgentChannelEvents> {
  private closed = false
  private closedWith: Error | undefined
  private nextRequestId = 1
  private drainWait: Promise<void> | undefined

  private readonly socket: Socket
  private readonly opsClient: AgentOpsClient

  private constructor(socket: Socket, private readonly decoder: FrameDecoder, readonly hello: Hello, readonly peerPid: number | undefined) {
    super()
    this.socket = socket
    const isClosed = () => this.closed
    this.opsClient = new AgentOpsClient({
      writeFrame: (frame) => this.closed || this.socket.write(frame),
      drained: () => this.drained(),
      sendOp: (message) => void this.send(message),
      get isClosed() {
        return isClosed()
      },
    })
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err) => this.finish(err))
    socket.on('close', () => this.finish(undefined))
  }

  /**
   * Waits for the agent's hello on a connected socket, then returns the channel. The same decoder
   * reads on after the hello, so a frame that straddles the hello's read is never cut.
   */
  static open(socket: Socket, timeoutMs: number, expect: ChannelExpectations = {}): Promise<AgentChannel> {
    return new Promise((resolve, reject) => {
      const decoder = new FrameDecoder()
      const timer = setTimeout(() => fail(new ChannelError(`agent said no hello within ${timeoutMs} ms`)), timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        socket.off('data', onData)
        socket.off('error', fail)
        socket.off('close', onClose)
      }
      const fail = (err: Error) => {
        cleanup()
        socket.destroy()
        reject(err)
      }
      const onClose = () => fail(new ChannelError('agent closed the connection before hello'))
      const onData = (chunk: Buffer) => {
        let frames
        try {
          frames = decoder.push(chunk)
        } catch (err) {
          return fail(new ChannelProtocolError(`agent sent a bad frame: ${(err as Error).message}`))
        }
        const first = frames[0]
        if (!first) return
        if (first.kind !== FrameKind.CONTROL) return fail(new ChannelProtocolError('first frame from agent is not hello'))
        const parsed = agentMessageSchema.safeParse(parseJson(first.payload))
        if (!parsed.success || parsed.data.type !== 'hello') return fail(new ChannelProtocolError('first message from agent is not hello'))
        if (parsed.data.protocol !== PROTOCOL_VERSION) {
          return fail(new ChannelProtocolError(`agent speaks protocol ${parsed.data.protocol}, gateway ${PROTOCOL_VERSION}`))
        }
        if (expect.sandboxId !== undefined && parsed.data.sandboxId !== expect.sandboxId) {
          return fail(new ChannelProtocolError(`agent says it is sandbox ${JSON.stringify(parsed.data.sandboxId)}, expected ${expect.sandboxId}`))
        }
        cleanup()
        const channel = new AgentChannel(socket, decoder, parsed.data, expect.peerPid)
        // Frames that arrived in the same read as hello are delivered once listeners exist.
        const rest = frames.slice(1)
        if (rest.length > 0) queueMicrotask(() => rest.forEach((f) => channel.closed || channel.dispatch(f.kind, f.payload)))
        resolve(channel)
      }
      socket.on('data', onData)
      socket.on('error', fail)
      socket.on('close', onClose)
    })
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Commands and files in the sandbox, each operation in its own flow-controlled stream. */
  get ops(): AgentOps {
    return this.opsClient
  }

  /** Why the channel closed (undefined while open, or when it simply closed): for listeners that came late. */
  get closeError(): Error | undefined {
    return this.closedWith
  }

  /** False when the socket's buffer is full: wait for `drained()` before sending more. */
  send(message: GatewayMessage): boolean {
    if (this.closed) throw new ChannelError('channel to agent is closed')
    return this.socket.write(encodeControl(message))
  }

  /** Keyboard input; false when the socket's buffer is full: wait for `drained()` before sending more. */
  sendInput(data: Buffer): boolean {
    if (this.closed) throw new ChannelError('channel to agent is closed')
    return this.socket.write(encodeFrame(FrameKind.DATA, data))
  }

  /**
   * Resolves once the agent has taken what the socket buffered (at once when nothing waits),
   * or the channel closed. All waiters share one 'drain' listener.
   */
  drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve()
    this.drainWait ??= new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done)
        this.off('close', done)
        this.drainWait = undefined
        resolve()
      }
      this.socket.on('drain', done)
      this.on('close', done)
    })
    return this.drainWait
  }

  /** Sends the claim and resolves with the agent's ready (or rejects on error/close/timeout). */
  claim(claim: Omit<Claim, 'type'>, timeoutMs: number): Promise<Ready> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new ChannelError(`agent not ready within ${timeoutMs} ms`)), timeoutMs)
      const onMessage = (m: AgentMessage) => {
        if (m.type === 'ready' && m.sessionId === claim.sessionId) done(undefined, m)
        else if (m.type === 'error') done(new ChannelError(`agent refused the claim: ${m.code}: ${m.message}`))
        else if (m.type === 'exit') done(new ChannelError(`shell exited during the claim (${m.reason})`))
      }
      const onClose = () => done(new ChannelError('agent connection closed during the claim'))
      const done = (err?: Error, ready?: Ready) => {
        clearTimeout(timer)
        this.off('message', onMessage)
        this.off('close', onClose)
        if (err) reject(err)
        else resolve(ready!)
      }
      this.on('message', onMessage)
      this.on('close', onClose)
      try {
        this.send({ type: 'claim', ...claim })
      } catch (err) {
        done(err as Error)
      }
    })
  }

  /** Sends a snapshot request and returns its id; the answer comes as a 'snapshot' event. */
  requestSnapshot(): number {
    const requestId = this.nextRequestId++
    this.send({ type: 'snapshot', requestId })
    return requestId
  }

  /** Asks for the scrollback; resolves with the bytes the agent holds at that instant. */
  snapshot(timeoutMs = 5000): Promise<Buffer> {
    const requestId = this.nextRequestId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new ChannelError('agent sent no scrollback in time')), timeoutMs)
      const onSnapshot = (id: number, data: Buffer) => {
        if (id === requestId) done(undefined, data)
      }
      const onClose = () => done(new ChannelError('agent connection closed'))
      const done = (err?: Error, data?: Buffer) => {
        clearTimeout(timer)
        this.off('snapshot', onSnapshot)
        this.off('close', onClose)
        if (err) reject(err)
        else resolve(data!)
      }
      this.on('snapshot', onSnapshot)
      this.on('close', onClose)
      try {
        this.send({ type: 'snapshot', requestId })
      } catch (err) {
        done(err as Error)
      }
    })
  }

  close(): void {
    this.socket.end()
    this.socket.destroy()
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return
    let frames
    try {
      frames = this.decoder.push(chunk)
    } catch (err) {
      this.protocolError(`agent sent a bad frame: ${(err as Error).message}`)
      return
    }
    for (const f of frames) {
      if (this.closed) return
      this.dispatch(f.kind, f.payload)
    }
  }

  /** Every frame after hello: anything the agent would never send closes the channel. */
  private dispatch(kind: number, payload: Buffer): void {
    if (kind === FrameKind.DATA) {
      this.emit('output', payload)
      return
    }
    if (kind === FrameKind.SNAPSHOT) {
      if (payload.length < SNAPSHOT_HEADER_BYTES) return this.protocolError('agent sent a snapshot frame shorter than its header')
      const { requestId, data } = decodeSnapshot(payload)
      this.emit('snapshot', requestId, Buffer.from(data))
      return
    }
    try {
      if (kind === FrameKind.STREAM) return this.onStream(payload)
      if (kind === FrameKind.CREDIT) return this.onCredit(payload)
      const parsed = agentMessageSchema.safeParse(parseJson(payload))
      if (!parsed.success) return this.protocolError('agent sent a control frame that is not one of its messages')
      if (parsed.data.type === 'hello') return this.protocolError('agent sent a second hello')
      if (OP_ANSWER_TYPES.has(parsed.data.type)) return this.opsClient.handleAnswer(parsed.data as OpAnswer)
      this.emit('message', parsed.data)
    } catch (err) {
      if (!(err instanceof ProtocolViolation)) throw err
      this.protocolError(`agent broke the operations protocol: ${err.message}`)
    }
  }

  private onStream(payload: Buffer): void {
    const frame = decodeStream(payload)
    if (!frame) throw new ProtocolViolation('a stream frame shorter than its header')
    if (frame.data.length > MAX_STREAM_CHUNK_BYTES) throw new ProtocolViolation(`a stream frame of more than ${MAX_STREAM_CHUNK_BYTES} bytes`)
    this.opsClient.handleStream(frame.opId, frame.fd, frame.data)
  }

  private onCredit(payload: Buffer): void {
    const frame = decodeCredit(payload)
    if (!frame) throw new ProtocolViolation('a credit frame that is not 9 bytes')
    this.opsClient.handleCredit(frame.opId, frame.fd, frame.bytes)
  }

  /** Closes the channel because the agent broke the protocol; listeners see a ChannelProtocolError. */
  private protocolError(message: string): void {
    this.finish(new ChannelProtocolError(message))
    this.socket.destroy()
  }

  private finish(err: Error | undefined): void {
    if (this.closed) return
    this.closed = true
    this.closedWith = err
    this.opsClient.close(err ?? new ChannelError('agent connection closed'))
    this.emit('close', err)
  }
}

const SNAPSHOT_HEADER_BYTES = 4

/** JSON of a control frame, or undefined when it is not JSON (the schema then refuses it). */
function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'))
  } catch {
    return undefined
  }
}
