import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import {
  FrameDecoder, FrameKind, MAX_STREAM_CHUNK_BYTES, PROTOCOL_VERSION, STREAM_WINDOW_BYTES, decodeCredit, decodeStream, encodeControl,
  encodeCredit, encodeFrame, encodeStream, type GatewayMessage,
} from '@infra-lab/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AgentOpError, type OutputChunk } from './agent-ops.ts'
import { AgentChannel, ChannelError, ChannelProtocolError } from './channel.ts'

const hello = encodeControl({ type: 'hello', protocol: PROTOCOL_VERSION, sandboxId: 'sbx-1', agentVersion: 'test', pid: 1, state: 'claimed', uptimeMs: 1 })
const EXEC = { cmd: 'true', env: {}, timeoutMs: 1000, background: false, tty: false } as const

/** The agent's end of one connection: what the gateway sent it, and a way to send anything back. */
class Peer {
  readonly requests: Array<GatewayMessage & { opId?: number }> = []
  readonly credits: Array<{ opId: number; fd: number; bytes: number }> = []
  readonly streams: Array<{ opId: number; fd: number; data: Buffer }> = []
  private readonly decoder = new FrameDecoder()
  private waiters: Array<() => void> = []

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.decoder.push(chunk)) {
        if (f.kind === FrameKind.CONTROL) this.requests.push(JSON.parse(f.payload.toString('utf8')))
        if (f.kind === FrameKind.CREDIT) this.credits.push(decodeCredit(f.payload)!)
        if (f.kind === FrameKind.STREAM) {
          const s = decodeStream(f.payload)!
          this.streams.push({ ...s, data: Buffer.from(s.data) })
        }
      }
      this.waiters.forEach((w) => w())
    })
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames))
  }

  answer(m: Record<string, unknown>): void {
    this.send(encodeControl(m))
  }

  async until<T>(what: string, test: () => T | undefined): Promise<T> {
    const end = Date.now() + 5000
    for (;;) {
      const v = test()
      if (v !== undefined) return v
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await new Promise<void>((r) => {
        this.waiters.push(r)
        setTimeout(r, 20)
      })
    }
  }

  request(type: string): Promise<GatewayMessage & { opId: number }> {
    return this.until(type, () => this.requests.find((m) => m.type === type) as (GatewayMessage & { opId: number }) | undefined)
  }

  streamBytes(opId: number): number {
    return this.streams.filter((s) => s.opId === opId && s.data.length > 0).reduce((n, s) => n + s.data.length, 0)
  }
}

describe('the operations of an agent channel treat every byte from the agent as hostile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-channel-ops-'))
  const path = join(dir, 'agent.sock')
  let server: Server
  const accepted: Socket[] = []

  beforeAll(async () => {
    server = createServer((s) => {
      accepted.push(s)
      s.on('error', () => undefined)
      s.write(hello)
    })
    await new Promise<void>((r) => server.listen(path, () => r()))
  })
  afterAll(async () => {
    for (const s of accepted) s.destroy()
    await new Promise<void>((r) => server.close(() => r()))
    rmSync(dir, { recursive: true, force: true })
  })

  async function open(): Promise<{ ch: AgentChannel; peer: Peer; closed: Promise<Error | undefined> }> {
    const socket = connect(path)
    await new Promise<void>((r, j) => socket.once('connect', () => r()).once('error', j))
    const ch = await AgentChannel.open(socket, 2000)
    await new Promise((r) => setTimeout(r, 10))
    const peer = new Peer(accepted.at(-1)!)
    const closed = new Promise<Error | undefined>((r) => ch.once('close', r))
    return { ch, peer, closed }
  }

  /** A foreground exec the peer has started; its output is not read. */
  async function started(): Promise<Awaited<ReturnType<typeof open>> & { opId: number; output: Readable; exit: Promise<unknown> }> {
    const o = await open()
    const handle = o.ch.ops.exec(EXEC)
    const { opId } = await o.peer.request('exec')
    o.peer.answer({ type: 'started', opId, processId: 'proc-a1', pid: 42 })
    const { output, exit } = await handle
    return { ...o, opId, output: output!, exit }
  }

  it.each([
    ['bytes for an operation that is not open', () => encodeStream(77, 1, Buffer.from('x'))],
    ['credit for an operation that is not open', () => encodeCredit(77, 0, 10)],
    ['an answer for an operation that is not open', () => encodeControl({ type: 'done', opId: 77 })],
    ['a stream frame shorter than its header', () => encodeFrame(FrameKind.STREAM, Buffer.from([0, 0, 1]))],
    ['a credit frame of the wrong size', () => encodeFrame(FrameKind.CREDIT, Buffer.alloc(8))],
    ['an answer with an error code outside the closed set', () => encodeControl({ type: 'op_error', opId: 1, code: 'rm_rf', message: 'x' })],
    ['a started with a process id of the wrong form', () => encodeControl({ type: 'started', opId: 1, processId: '../../etc', pid: 1 })],
  ])('%s closes the channel with a protocol error', async (_name, frame) => {
    const { peer, closed } = await open()
    peer.send(frame())
    expect(await closed).toBeInstanceOf(ChannelProtocolError)
  })

  it('an exec answered out of order (exit before started, started twice, output before started) closes the channel', async () => {
    for (const bad of [
      (opId: number) => [encodeControl({ type: 'exec_exit', opId, exitCode: 0, signal: null, timedOut: false, durationMs: 1 })],
      (opId: number) => [encodeControl({ type: 'started', opId, processId: 'proc-a', pid: 2 }), encodeControl({ type: 'started', opId, processId: 'proc-b', pid: 3 })],
      (opId: number) => [encodeStream(opId, 1, Buffer.from('early'))],
      (opId: number) => [encodeControl({ type: 'written', opId, path: '/x', size: 0 })],
    ]) {
      const { ch, peer, closed } = await open()
      const exec = ch.ops.exec(EXEC)
      exec.catch(() => undefined) // the second started comes after the first resolved it
      const { opId } = await peer.request('exec')
      peer.send(...bad(opId))
      expect(await closed).toBeInstanceOf(ChannelProtocolError)
      const settled = await exec.then((h) => h.exit, (err: Error) => err).catch((err: Error) => err)
      expect(settled).toBeInstanceOf(ChannelError)
    }
  })

  it('output past the window of an unread stream closes the channel; up to the window is held, not granted', async () => {
    const { peer, opId, closed } = await started()
    const chunk = Buffer.alloc(MAX_STREAM_CHUNK_BYTES, 7)
    for (let sent = 0; sent < STREAM_WINDOW_BYTES; sent += chunk.length) peer.send(encodeStream(opId, 1, chunk))
    await new Promise((r) => setTimeout(r, 50))
    // Nobody read the output: the gateway granted no credit, and a full window on stderr is its own.
    expect(peer.credits.filter((c) => c.opId === opId && c.fd === 1)).toEqual([])
    peer.send(encodeStream(opId, 2, chunk))
    await new Promise((r) => setTimeout(r, 50))
    peer.send(encodeStream(opId, 1, Buffer.from('one byte too many')))
    expect((await closed)?.message).toMatch(/window/)
  })

  it('a stream frame larger than the largest chunk, or an empty one, closes the channel', async () => {
    for (const data of [Buffer.alloc(MAX_STREAM_CHUNK_BYTES + 1), Buffer.alloc(0)]) {
      const { peer, opId, closed } = await started()
      peer.send(encodeStream(opId, 1, data))
      expect(await closed).toBeInstanceOf(ChannelProtocolError)
    }
  })

  it('bytes on a fd the operation does not read (stdin from the agent, fd 3) close the channel', async () => {
    for (const fd of [0, 3, 255]) {
      const { peer, opId, closed } = await started()
      peer.send(encodeStream(opId, fd, Buffer.from('x')))
      expect(await closed).toBeInstanceOf(ChannelProtocolError)
    }
  })

  it('credit is granted as the output is read, by the bytes read, on their own fd', async () => {
    const { ch, peer, opId, output } = await started()
    peer.send(encodeStream(opId, 1, Buffer.from('out-1')), encodeStream(opId, 2, Buffer.from('err')), encodeStream(opId, 1, Buffer.from('out-2')))
    const reader = output[Symbol.asyncIterator]()
    const got: OutputChunk[] = []
    for (let i = 0; i < 3; i++) got.push((await reader.next()).value as OutputChunk)
    expect(got.map((c) => `${c.stream}:${c.data.toString()}`)).toEqual(['stdout:out-1', 'stderr:err', 'stdout:out-2'])
    const credits = await peer.until('credits', () => (peer.credits.length >= 3 ? peer.credits : undefined))
    expect(credits).toEqual([{ opId, fd: 1, bytes: 5 }, { opId, fd: 2, bytes: 3 }, { opId, fd: 1, bytes: 5 }])
    peer.answer({ type: 'exec_exit', opId, exitCode: 0, signal: null, timedOut: false, durationMs: 3 })
    expect(ch.isClosed).toBe(false)
    ch.close()
  })

  it('destroying an exec output sends cancel; bytes in flight are dropped, bytes past the window are not; the exit still arrives', async () => {
    const { ch, peer, opId, output, exit } = await started()
    output.destroy()
    await peer.request('cancel')
    peer.send(encodeStream(opId, 1, Buffer.alloc(1000)))
    peer.answer({ type: 'exec_exit', opId, exitCode: 7, signal: null, timedOut: false, durationMs: 1 })
    expect(await exit).toMatchObject({ exitCode: 7 })
    expect(ch.isClosed).toBe(false)
    // still counted against the window after the cancel
    const again = await started()
    again.output.destroy()
    await again.peer.request('cancel')
    const chunk = Buffer.alloc(MAX_STREAM_CHUNK_BYTES)
    for (let sent = 0; sent <= STREAM_WINDOW_BYTES; sent += chunk.length) again.peer.send(encodeStream(again.opId, 1, chunk))
    expect(await again.closed).toBeInstanceOf(ChannelProtocolError)
    ch.close()
  })

  it('credit the agent was never owed, or on a fd it does not send, closes the channel', async () => {
    for (const frame of [(opId: number) => encodeCredit(opId, 0, 1), (opId: number) => encodeCredit(opId, 1, 1)]) {
      const { ch, peer, closed } = await open()
      const body = new PassThrough()
      void ch.ops.writeFile('f', body, 100).catch(() => undefined)
      const { opId } = await peer.request('write_file')
      peer.send(frame(opId))
      expect(await closed).toBeInstanceOf(ChannelProtocolError)
    }
  })

  it('an upload never has more than the window in flight, and goes on as credit comes', async () => {
    const { ch, peer } = await open()
    const body = Readable.from([Buffer.alloc(STREAM_WINDOW_BYTES + 100_000, 1)])
    const written = ch.ops.writeFile('big', body, 10_000_000)
    const { opId } = await peer.request('write_file')
    await peer.until('a full window', () => (peer.streamBytes(opId) === STREAM_WINDOW_BYTES ? true : undefined))
    await new Promise((r) => setTimeout(r, 50))
    expect(peer.streamBytes(opId)).toBe(STREAM_WINDOW_BYTES)
    peer.send(encodeCredit(opId, 0, STREAM_WINDOW_BYTES))
    await peer.until('the rest and the end', () => (peer.streams.some((s) => s.opId === opId && s.data.length === 0) ? true : undefined))
    expect(peer.streamBytes(opId)).toBe(STREAM_WINDOW_BYTES + 100_000)
    peer.answer({ type: 'written', opId, path: '/home/u/big', size: STREAM_WINDOW_BYTES + 100_000 })
    expect(await written).toEqual({ path: '/home/u/big', size: STREAM_WINDOW_BYTES + 100_000 })
  })

  it('an upload larger than maxBytes is refused with too_large and cancelled, without its end', async () => {
    const { ch, peer } = await open()
    const refused = expect(ch.ops.writeFile('big', Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), 1000)).rejects.toMatchObject({ code: 'too_large' })
    const { opId } = await peer.request('write_file')
    await refused
    await peer.request('cancel')
    expect(peer.streams.filter((s) => s.opId === opId && s.data.length === 0)).toEqual([])
    expect(peer.streamBytes(opId)).toBeLessThanOrEqual(1000)
    peer.answer({ type: 'done', opId })
    await new Promise((r) => setTimeout(r, 20))
    expect(ch.isClosed).toBe(false)
    ch.close()
  })

  it('a written that does not match what was sent closes the channel', async () => {
    const { ch, peer, closed } = await open()
    const refused = expect(ch.ops.writeFile('f', Readable.from([Buffer.from('hello')]), 100)).rejects.toBeInstanceOf(ChannelError)
    const { opId } = await peer.request('write_file')
    await peer.until('the end', () => (peer.streams.some((s) => s.opId === opId && s.data.length === 0) ? true : undefined))
    peer.answer({ type: 'written', opId, path: '/home/u/f', size: 6 })
    expect(await closed).toBeInstanceOf(ChannelProtocolError)
    await refused
  })

  it('a file read that sends more than the size it announced, or ends short of it, closes the channel', async () => {
    for (const [size, bytes] of [[3, 'four'], [5, 'four']] as const) {
      const { ch, peer, closed } = await open()
      const read = ch.ops.readPath('f')
      const { opId } = await peer.request('read_path')
      peer.answer({ type: 'file', opId, size })
      const result = await read
      expect(result).toMatchObject({ kind: 'file', size })
      if (result.kind === 'file') result.data.resume()
      peer.send(encodeStream(opId, 1, Buffer.from(bytes)), encodeControl({ type: 'done', opId }))
      expect(await closed).toBeInstanceOf(ChannelProtocolError)
    }
  })

  it("an agent's op_error reaches the caller as an AgentOpError with its code", async () => {
    const { ch, peer } = await open()
    const read = ch.ops.readPath('missing')
    const { opId } = await peer.request('read_path')
    peer.answer({ type: 'op_error', opId, code: 'file_not_found', message: 'ENOENT: missing' })
    await expect(read).rejects.toEqual(new AgentOpError('file_not_found', 'ENOENT: missing'))
    expect(ch.isClosed).toBe(false)
    ch.close()
  })

  it('the channel closing fails every open operation and destroys its streams', async () => {
    const { ch, peer, opId, output } = await started()
    void opId
    const read = ch.ops.readPath('x')
    await peer.request('read_path')
    const ended = new Promise<Error | undefined>((r) => output.once('error', r))
    peer.socket.destroy()
    await expect(read).rejects.toBeInstanceOf(ChannelError)
    expect(await ended).toBeInstanceOf(ChannelError)
    await expect(ch.ops.listProcesses()).rejects.toBeInstanceOf(ChannelError)
  })
})
