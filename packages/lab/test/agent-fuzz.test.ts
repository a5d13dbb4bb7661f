import { PassThrough } from 'node:stream'
import { FrameKind, MAX_STREAM_CHUNK_BYTES, PROTOCOL_VERSION, encodeControl, encodeCredit, encodeFrame, encodeStream } from '@infra-lab/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LabClient } from '../src/client/client.ts'
import { AgentOpError } from '../src/drivers/agent-ops.ts'
import type { AgentChannel } from '../src/drivers/channel.ts'
import { FakeDriver } from '../src/drivers/fake/fake-driver.ts'
import type { SandboxHandle } from '../src/drivers/types.ts'
import { TEST_KEY, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { stream, type Rng } from '../src/sim/rng.ts'
import { Term } from './gateway-process.test-util.ts'

const SEED = 20261201
const SESSIONS = 200
/** Frames per agent vary (1 to 40), so every kind of frame is often the first bad one. */
const MAX_FRAMES_PER_SESSION = 40

const int = (rng: Rng, n: number) => Math.floor(rng() * n)
const bytes = (rng: Rng, n: number) => Buffer.from(Array.from({ length: n }, () => int(rng, 256)))

/** Operation ids the gateway opened on each fuzzed channel (openOps), and a few it did not. */
const OP_IDS = 8

/** One answer an agent might send to an operation: valid, out of place, or malformed. */
function randomAnswer(rng: Rng): Record<string, unknown> {
  const opId = [0, 1 + int(rng, OP_IDS), 2 ** 32, -1][int(rng, 8) === 0 ? int(rng, 4) : 1]!
  const answers: Array<Record<string, unknown>> = [
    { type: 'started', opId, processId: ['proc-ab12', 'PROC', 'proc-x/y'][int(rng, 3)], pid: [1, 0, 99999][int(rng, 3)] },
    { type: 'exec_exit', opId, exitCode: [0, 1, null, 'x'][int(rng, 4)], signal: [null, 'SIGKILL', 5][int(rng, 3)], timedOut: rng() < 0.5, durationMs: int(rng, 100) },
    { type: 'op_error', opId, code: ['file_not_found', 'internal', 'nope'][int(rng, 3)], message: 'fuzz' },
    { type: 'file', opId, size: [0, int(rng, 5000), -1][int(rng, 3)] },
    { type: 'dir', opId, entries: [{ name: 'a', type: 'file', size: 1, mode: '0644', mtime: '2026-01-01T00:00:00.000Z' }, { name: '', type: 'x' }].slice(0, int(rng, 3)), truncated: false },
    { type: 'done', opId, ...(rng() < 0.5 ? { bytes: int(rng, 10) } : {}) },
    { type: 'written', opId, path: '/x', size: int(rng, 3) },
    { type: 'process_list', opId, processes: [] },
  ]
  return answers[int(rng, answers.length)]!
}

/** The operations' frames: bytes and credit for open and unknown operations, sizes around the limits. */
function randomOpFrame(rng: Rng): Buffer {
  const opId = int(rng, 4) === 0 ? int(rng, 2 ** 32) : 1 + int(rng, OP_IDS)
  switch (int(rng, 7)) {
    case 0: return encodeStream(opId, int(rng, 4), bytes(rng, [0, 1 + int(rng, 3000), MAX_STREAM_CHUNK_BYTES + 1][int(rng, 8) === 0 ? int(rng, 3) : 1]!))
    case 1: return encodeCredit(opId, int(rng, 3), [1, int(rng, 70_000), 2 ** 32 - 1][int(rng, 3)]!)
    case 2: return encodeFrame(FrameKind.STREAM, bytes(rng, int(rng, 6))) // at most its header
    case 3: return encodeFrame(FrameKind.CREDIT, bytes(rng, int(rng, 12)))
    default: return encodeControl(randomAnswer(rng))
  }
}

/** Operations a fuzzed agent's answer settled (accepted as valid): the fuzz reaches open operations. */
let answered = 0

/** Starts operations on a fuzzed channel so its answers and frames meet open ones. */
function openOps(ch: AgentChannel): void {
  const ignore = (p: Promise<unknown>) => void p.then(() => answered++, (err: Error) => (err instanceof AgentOpError ? answered++ : undefined))
  ignore(ch.ops.exec({ cmd: 'true', env: {}, timeoutMs: 1000, background: false, tty: false }))
  ignore(ch.ops.exec({ cmd: ['cat'], env: {}, stdin: Buffer.alloc(1000), timeoutMs: 1000, background: true, tty: false }))
  ignore(ch.ops.readPath('f'))
  ignore(ch.ops.writeFile('g', new PassThrough().end(Buffer.alloc(300_000)), 1_000_000))
  ignore(ch.ops.processOutput('proc-ab12', true))
  ignore(ch.ops.listProcesses())
  ignore(ch.ops.writeStdin('proc-ab12', new PassThrough().end('x')))
  ignore(ch.ops.removePath('h', false))
}

/**
 * Valid answers that start the operations openOps opened (foreground exec 1, background exec 2,
 * read 3, output 5), so the random frames after them meet operations that take bytes.
 */
const STARTS = Buffer.concat([
  encodeControl({ type: 'started', opId: 1, processId: 'proc-f1', pid: 10 }),
  encodeControl({ type: 'started', opId: 2, processId: 'proc-b2', pid: 11 }),
  encodeControl({ type: 'file', opId: 3, size: 5000 }),
  encodeControl({ type: 'started', opId: 5, processId: 'proc-ab12', pid: 11 }),
])

/** The fake driver, keeping each sandbox's last channel so the test can start operations on it. */
class RecordingDriver extends FakeDriver {
  readonly channels = new Map<string, AgentChannel>()
  override async connect(handle: SandboxHandle): Promise<AgentChannel> {
    const channel = await super.connect(handle)
    this.channels.set(handle.id, channel)
    return channel
  }
}

/** One frame an agent might send: well-formed, malformed, truncated or plain noise. */
function randomFrame(rng: Rng, sandboxId: string): Buffer {
  switch (int(rng, 16)) {
    case 12: case 13: case 14: case 15: return randomOpFrame(rng)
    case 0: return encodeFrame(FrameKind.DATA, bytes(rng, int(rng, 2000)))
    case 1: return encodeControl({ type: 'pong', id: int(rng, 1000) })
    case 2: return encodeFrame(FrameKind.SNAPSHOT, bytes(rng, int(rng, 4))) // shorter than its header
    case 3: return encodeFrame(FrameKind.SNAPSHOT, bytes(rng, 4 + int(rng, 300)))
    case 4: return Buffer.from([1 + int(rng, 3), ...bytes(rng, 4)]) // a header with any length (often huge)
    case 5: return Buffer.concat([Buffer.from([6 + int(rng, 250)]), bytes(rng, 4 + int(rng, 40))]) // unknown kind
    case 6: return encodeFrame(FrameKind.CONTROL, bytes(rng, int(rng, 100))) // not JSON
    case 7: return encodeControl([{ type: 'ready' }, { type: 'error', code: 'nope' }, { type: 'exit' }, { type: 'x' }, [42], { type: null }][int(rng, 6)]!)
    case 8: return encodeControl({ type: 'hello', protocol: PROTOCOL_VERSION, sandboxId, agentVersion: 'x', pid: 1, state: 'claimed', uptimeMs: 1 })
    case 9: { const f = encodeFrame(FrameKind.DATA, bytes(rng, 50 + int(rng, 500))); return f.subarray(0, int(rng, f.length)) } // truncated
    case 10: return bytes(rng, 1 + int(rng, 64))
    default: return encodeControl({ type: 'error', code: 'internal', message: 'fuzz' })
  }
}

describe('a hostile agent cannot crash the gateway or reach another session (seeded fuzz of the agent channel)', () => {
  const driver = new RecordingDriver({ silentOps: true })
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  let client: LabClient
  let healthy: Term

  beforeAll(async () => {
    gw = await startTestGateway(driver, { pools: [{ name: 'default', policy: { kind: 'fixed', size: 4 }, maxSize: 64 }] })
    client = new LabClient(gw.url, TEST_KEY)
    const s = await client.createSession({ user: 'healthy' })
    healthy = await Term.open(client, s.attach)
  })
  afterAll(async () => {
    healthy?.close()
    await gw?.cleanup()
  })

  async function healthyEchoes(tag: string): Promise<void> {
    healthy.type(`echo ok-${tag}\r`)
    await healthy.waitFor((t) => t.output.includes(`ok-${tag}\r\n`), `echo ${tag} in the healthy session (exit ${JSON.stringify(healthy.exit)}, close ${healthy.closeCode})`)
  }

  it(`survives thousands of random and truncated frames from ${SESSIONS} agents (operations' frames too), every other session working`, async () => {
    const rng = stream(SEED, 1)
    let protocolErrors = 0
    let frames = 0
    for (let i = 0; i < SESSIONS; i++) {
      const created = await client.createSession({ user: `fuzz-${i % 7}` })
      const sandboxId = (await gw.store.getSession(created.id))!.sandboxId!
      const agent = driver.agent(sandboxId)!
      openOps(driver.channels.get(sandboxId)!)
      const count = 1 + int(rng, MAX_FRAMES_PER_SESSION)
      frames += count
      const stream_ = Buffer.concat(Array.from({ length: count }, () => randomFrame(rng, sandboxId)))
      if (rng() < 0.5) {
        // Alone: a bad frame later in the same read would have the whole read refused.
        agent.sendRaw(STARTS)
        await new Promise((r) => setTimeout(r, 2))
      }
      // Delivered in random pieces, so frames straddle socket reads.
      for (let at = 0; at < stream_.length;) {
        const n = 1 + int(rng, 4096)
        agent.sendRaw(stream_.subarray(at, at + n))
        at += n
      }
      agent.sendRaw(encodeControl({ type: 'pong', id: -1 })) // a last well-formed frame flushes a valid stream
      await new Promise((r) => setTimeout(r, 5))
      const s = await client.getSession(created.id)
      if (s.state === 'ended') {
        expect(['sandbox_lost', 'exited', 'claim_failed']).toContain(s.endedReason)
        if (s.endedReason === 'sandbox_lost') protocolErrors++
      } else {
        await client.deleteSession(created.id)
      }
      if (i % 25 === 0) await healthyEchoes(String(i))
    }
    await healthyEchoes('end')
    expect((await gw.app.inject('/healthz')).statusCode).toBe(200)
    expect(frames).toBeGreaterThan(3000)
    expect(protocolErrors).toBeGreaterThan(SESSIONS / 4)
    expect(answered).toBeGreaterThan(SESSIONS / 4)
    const metrics = (await gw.app.inject('/metrics')).body
    const counted = Number(/lab_sandbox_failures_total\{driver="fake",reason="protocol_error"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0)
    expect(counted).toBeGreaterThanOrEqual(protocolErrors)
    // Every fuzzed sandbox is gone: only the healthy session's and the warm pool's agents live on.
    await waitFor(async () => (await driver.list()).length <= 1 + 4, 10_000, 'fuzzed sandboxes to be destroyed')
    const open = await gw.store.listSessions({ state: 'running' })
    expect(open.map((s) => s.user)).toEqual(['healthy'])
  }, 240_000)
})
