import type { Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TailTerminal } from '../src/bench/backpressure-clients.ts'
import { LabClient, type Attach } from '../src/client/client.ts'
import type { AgentChannel } from '../src/drivers/channel.ts'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import type { SandboxDriver } from '../src/drivers/types.ts'
import { TEST_KEY, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'

const MiB = 1024 * 1024

interface DriverEnv {
  makeDriver(): Promise<SandboxDriver>
  cleanup(): Promise<void>
}

/** The gateway's terminal path is the same for every driver; each real one runs these. */
function backpressureSuite(name: string, skip: string | undefined, makeEnv: () => Promise<DriverEnv>): void {
  describe.skipIf(skip !== undefined)(`back-pressure on the terminal path (${name} driver)${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let env: DriverEnv
    let gw: Awaited<ReturnType<typeof startTestGateway>>
    let client: LabClient
    /** The gateway's channel to each sandbox, by sandbox id (the driver is wrapped to see them). */
    const channels = new Map<string, AgentChannel>()
    const viewers: TailTerminal[] = []

    beforeAll(async () => {
      env = await makeEnv()
      const driver = await env.makeDriver()
      const connect = driver.connect.bind(driver)
      driver.connect = async (handle) => {
        const ch = await connect(handle)
        channels.set(handle.id, ch)
        return ch
      }
      gw = await startTestGateway(driver, { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 4 }] })
      client = new LabClient(gw.url, TEST_KEY)
      await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2, 30_000, 'a full pool')
    }, 60_000)
    afterAll(async () => {
      for (const v of viewers) v.terminate()
      await gw?.cleanup()
      await env?.cleanup()
    })

    const view = async (attach: Attach) => {
      const v = await TailTerminal.open(client, attach)
      viewers.push(v)
      return v
    }

    it('closes a viewer that stops reading with 1013; the other viewer, the shell and re-attach carry on', async () => {
      const s = await client.createSession({ user: 'slowpoke' })
      const slow = await view(s.attach)
      const fast = await view(await client.attach(s.id))
      await fast.waitFor('$ ', 10_000, 'the prompt')
      slow.pauseReading()

      fast.type('yes | head -c 200M\r')
      // By now the gateway has handled far more than the bound plus what loopback TCP buffers
      // for the slow viewer, so it must have closed it; the close frame waits behind its backlog.
      await waitFor(() => fast.bytes > 32 * MiB, 120_000, '32 MiB of output at the reading viewer')
      slow.resumeReading()
      await waitFor(() => slow.closeCode !== undefined, 25_000, 'the slow viewer to be closed')
      expect(slow.closeCode).toBe(1013)

      fast.type('echo mark$((40+2))er\r')
      await fast.waitFor('mark42er', 120_000, 'the marker after the flood')
      expect(fast.closeCode).toBeUndefined()
      expect((await client.getSession(s.id)).state).toBe('running')

      const again = await view(await client.attach(s.id))
      await again.waitFor('mark42er', 10_000, 'the marker in the scrollback')
      expect(again.bytes).toBeLessThanOrEqual(512 * 1024) // the scrollback, not the flood
      await client.deleteSession(s.id)
    }, 300_000)

    it('closes with 1013 a client that sends bad control messages and never reads the error replies', async () => {
      const s = await client.createSession({ user: 'noisy' })
      const v = await view(s.attach)
      await v.waitFor('$ ', 10_000, 'the prompt')
      v.pauseReading()
      // ~90 bytes of error reply for each 1-byte frame: 1M of them is 90 MiB of replies, more than
      // loopback TCP buffers for a reader that stopped (tcp_rmem may reach 32 MiB): the bound is
      // reached on any kernel, not only where the buffers stay small.
      for (let i = 0; i < 1024 * 1024; i++) v.ws.send('x')
      await waitFor(() => v.ws.bufferedAmount === 0, 150_000, 'the frames to leave the client')
      v.resumeReading()
      // the gateway answers 256k frames before it reaches the bound: give a loaded machine time
      await waitFor(() => v.closeCode !== undefined, 60_000, 'the client to be closed')
      expect(v.closeCode).toBe(1013)
      expect((await client.getSession(s.id)).state).toBe('running')
      await client.deleteSession(s.id)
    }, 300_000)

    it('stops reading input from a client while the agent socket is full, so the gateway holds a frame or two', async () => {
      const s = await client.createSession({ user: 'flooder' })
      const sandboxId = (await gw.store.getSession(s.id))?.sandboxId
      const socket = (channels.get(sandboxId!) as unknown as { socket: Socket }).socket
      const v = await view(s.attach)
      await v.waitFor('$ ', 10_000, 'the prompt')
      v.type('sleep 600\r') // the tty's input queue is not read while sleep runs

      const frame = Buffer.alloc(512 * 1024, 'a'.charCodeAt(0))
      const frames = 128
      let maxQueued = 0
      const sample = setInterval(() => (maxQueued = Math.max(maxQueued, socket.writableLength)), 1)
      try {
        for (let i = 0; i < frames; i++) v.ws.send(frame, { binary: true })
        // The client's buffer empties once the gateway has taken all but what loopback TCP holds.
        await waitFor(() => {
          maxQueued = Math.max(maxQueued, socket.writableLength)
          return v.ws.bufferedAmount === 0
        }, 240_000, 'the flood to reach the agent')
      } finally {
        clearInterval(sample)
      }
      expect(maxQueued).toBeLessThanOrEqual(2 * frame.length + 64 * 1024)
      expect(v.closeCode).toBeUndefined()
      await client.deleteSession(s.id)
    }, 300_000)
  })
}

backpressureSuite('local', localDriverSkipReason(), () => localTestEnv('backpressure'))
const dockerSkip = await dockerSkipReason()
backpressureSuite('docker', dockerSkip, async () => {
  const env = await dockerTestEnv('backpressure')
  return { makeDriver: () => env.makeDriver(), cleanup: env.cleanup }
})
