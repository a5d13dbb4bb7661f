import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FrameKind, PROTOCOL_VERSION, encodeControl, encodeFrame } from '@infra-lab/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AgentChannel, ChannelProtocolError } from './channel.ts'

const hello = (over: Record<string, unknown> = {}) => encodeControl({
  type: 'hello', protocol: PROTOCOL_VERSION, sandboxId: 'sbx-1', agentVersion: 'test', pid: 1, state: 'warm', uptimeMs: 1, ...over,
})

/** A hostile agent: a real unix socket server that sends `bytes` to each connection. */
describe('the agent channel treats every byte from the agent as hostile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-channel-'))
  const path = join(dir, 'agent.sock')
  let server: Server
  let next: Buffer[] = []
  const peers: Socket[] = []

  beforeAll(async () => {
    server = createServer((s) => {
      peers.push(s)
      s.on('error', () => undefined)
      for (const b of next) s.write(b)
    })
    await new Promise<void>((r) => server.listen(path, () => r()))
  })
  afterAll(async () => {
    for (const p of peers) p.destroy()
    await new Promise<void>((r) => server.close(() => r()))
    rmSync(dir, { recursive: true, force: true })
  })

  async function open(frames: Buffer[], expect: { sandboxId?: string } = {}): Promise<AgentChannel> {
    next = frames
    const socket = connect(path)
    await new Promise<void>((r, j) => socket.once('connect', () => r()).once('error', j))
    return AgentChannel.open(socket, 2000, expect)
  }

  /** Opens a channel, lets the agent send `after` once it is open, and returns the close error. */
  async function closeErrorAfter(after: Buffer): Promise<Error | undefined> {
    const ch = await open([hello()])
    const closed = new Promise<Error | undefined>((r) => ch.once('close', r))
    peers.at(-1)!.write(after)
    return closed
  }

  it('a snapshot frame shorter than its header closes the channel with a protocol error (it crashed the gateway)', async () => {
    const err = await closeErrorAfter(encodeFrame(FrameKind.SNAPSHOT, Buffer.from([1, 2])))
    expect(err).toBeInstanceOf(ChannelProtocolError)
    expect(err!.message).toMatch(/snapshot frame shorter/)
  })

  it.each([
    ['an unknown frame kind', Buffer.from([9, 0, 0, 0, 0])],
    ['a frame longer than the limit', Buffer.from([2, 0xff, 0xff, 0xff, 0xff])],
    ['a control frame that is not JSON', encodeFrame(FrameKind.CONTROL, '{not json')],
    ['a control frame that is not an agent message', encodeControl({ type: 'claim', sessionId: 'x' })],
    ['a second hello', hello()],
  ])('%s closes the channel with a protocol error', async (_name, bytes) => {
    expect(await closeErrorAfter(bytes)).toBeInstanceOf(ChannelProtocolError)
  })

  it('a bad frame in the same chunk as the hello closes the channel too', async () => {
    const ch = await open([Buffer.concat([hello(), encodeFrame(FrameKind.SNAPSHOT, Buffer.alloc(0))])])
    const err = await new Promise<Error | undefined>((r) => (ch.isClosed ? r(undefined) : ch.once('close', r)))
    expect(ch.isClosed).toBe(true)
    if (err) expect(err).toBeInstanceOf(ChannelProtocolError)
  })

  it('refuses a hello that names another sandbox, or another protocol', async () => {
    await expect(open([hello({ sandboxId: 'sbx-other' })], { sandboxId: 'sbx-1' })).rejects.toBeInstanceOf(ChannelProtocolError)
    await expect(open([hello({ protocol: PROTOCOL_VERSION + 1 })])).rejects.toBeInstanceOf(ChannelProtocolError)
    await expect(open([encodeFrame(FrameKind.DATA, 'hi')])).rejects.toBeInstanceOf(ChannelProtocolError)
    const ok = await open([hello()], { sandboxId: 'sbx-1' })
    expect(ok.hello.sandboxId).toBe('sbx-1')
    ok.close()
  })

  it('valid frames still flow: output, snapshot answers and messages', async () => {
    const ch = await open([hello()])
    const got: string[] = []
    ch.on('output', (d) => got.push(`out:${d.toString()}`))
    ch.on('snapshot', (id, d) => got.push(`snap:${id}:${d.toString()}`))
    ch.on('message', (m) => got.push(`msg:${m.type}`))
    const body = Buffer.alloc(7)
    body.writeUInt32BE(5, 0)
    body.write('abc', 4)
    peers.at(-1)!.write(Buffer.concat([encodeFrame(FrameKind.DATA, 'x'), encodeFrame(FrameKind.SNAPSHOT, body), encodeControl({ type: 'pong', id: 3 })]))
    const end = Date.now() + 2000
    while (got.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
    expect(got).toEqual(['out:x', 'snap:5:abc', 'msg:pong'])
    expect(ch.isClosed).toBe(false)
    ch.close()
  })
})
