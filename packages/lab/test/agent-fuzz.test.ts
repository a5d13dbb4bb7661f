import { FrameKind, PROTOCOL_VERSION, encodeControl, encodeFrame } from '@infra-lab/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LabClient } from '../src/client/client.ts'
import { FakeDriver } from '../src/drivers/fake/fake-driver.ts'
import { TEST_KEY, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { stream, type Rng } from '../src/sim/rng.ts'
import { Term } from './gateway-process.test-util.ts'

const SEED = 20261201
const SESSIONS = 200
/** Frames per agent vary (1 to 40), so every kind of frame is often the first bad one. */
const MAX_FRAMES_PER_SESSION = 40

const int = (rng: Rng, n: number) => Math.floor(rng() * n)
const bytes = (rng: Rng, n: number) => Buffer.from(Array.from({ length: n }, () => int(rng, 256)))

/** One frame an agent might send: well-formed, malformed, truncated or plain noise. */
function randomFrame(rng: Rng, sandboxId: string): Buffer {
  switch (int(rng, 12)) {
    case 0: return encodeFrame(FrameKind.DATA, bytes(rng, int(rng, 2000)))
    case 1: return encodeControl({ type: 'pong', id: int(rng, 1000) })
    case 2: return encodeFrame(FrameKind.SNAPSHOT, bytes(rng, int(rng, 4))) // shorter than its header
    case 3: return encodeFrame(FrameKind.SNAPSHOT, bytes(rng, 4 + int(rng, 300)))
    case 4: return Buffer.from([1 + int(rng, 3), ...bytes(rng, 4)]) // a header with any length (often huge)
    case 5: return Buffer.concat([Buffer.from([4 + int(rng, 252)]), bytes(rng, 4 + int(rng, 40))]) // unknown kind
    case 6: return encodeFrame(FrameKind.CONTROL, bytes(rng, int(rng, 100))) // not JSON
    case 7: return encodeControl([{ type: 'ready' }, { type: 'error', code: 'nope' }, { type: 'exit' }, { type: 'x' }, [42], { type: null }][int(rng, 6)]!)
    case 8: return encodeControl({ type: 'hello', protocol: PROTOCOL_VERSION, sandboxId, agentVersion: 'x', pid: 1, state: 'claimed', uptimeMs: 1 })
    case 9: { const f = encodeFrame(FrameKind.DATA, bytes(rng, 50 + int(rng, 500))); return f.subarray(0, int(rng, f.length)) } // truncated
    case 10: return bytes(rng, 1 + int(rng, 64))
    default: return encodeControl({ type: 'error', code: 'internal', message: 'fuzz' })
  }
}

describe('a hostile agent cannot crash the gateway or reach another session (seeded fuzz of the agent channel)', () => {
  const driver = new FakeDriver()
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

  it(`survives thousands of random and truncated frames from ${SESSIONS} agents, every other session working`, async () => {
    const rng = stream(SEED, 1)
    let protocolErrors = 0
    let frames = 0
    for (let i = 0; i < SESSIONS; i++) {
      const created = await client.createSession({ user: `fuzz-${i % 7}` })
      const sandboxId = (await gw.store.getSession(created.id))!.sandboxId!
      const agent = driver.agent(sandboxId)!
      const count = 1 + int(rng, MAX_FRAMES_PER_SESSION)
      frames += count
      const stream_ = Buffer.concat(Array.from({ length: count }, () => randomFrame(rng, sandboxId)))
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
    const metrics = (await gw.app.inject('/metrics')).body
    const counted = Number(/lab_sandbox_failures_total\{driver="fake",reason="protocol_error"\} (\d+)/.exec(metrics)?.[1] ?? 0)
    expect(counted).toBeGreaterThanOrEqual(protocolErrors)
    // Every fuzzed sandbox is gone: only the healthy session's and the warm pool's agents live on.
    await waitFor(async () => (await driver.list()).length <= 1 + 4, 10_000, 'fuzzed sandboxes to be destroyed')
    const open = await gw.store.listSessions({ state: 'running' })
    expect(open.map((s) => s.user)).toEqual(['healthy'])
  }, 240_000)
})
