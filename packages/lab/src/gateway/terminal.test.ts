import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { LabClient, type CreatedSession } from '../client/client.ts'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { TEST_KEY, startTestGateway, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

function collect(ws: WebSocket) {
  const got = { bytes: '', text: [] as string[], closeCode: undefined as number | undefined }
  ws.on('message', (d: Buffer, isBinary: boolean) => {
    if (isBinary) got.bytes += d.toString('utf8')
    else got.text.push(d.toString('utf8'))
  })
  ws.on('close', (code) => {
    got.closeCode = code
  })
  return got
}

const opened = (ws: WebSocket) => new Promise<void>((resolve, reject) => {
  ws.once('open', () => resolve())
  ws.once('error', reject)
})

function refusedStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      ws.terminate()
    })
    ws.on('open', () => reject(new Error('upgrade was accepted')))
    ws.on('error', () => undefined)
  })
}

describe('terminal WebSocket (fake driver)', () => {
  let gw: Gw
  let client: LabClient
  let a: CreatedSession
  let b: CreatedSession
  const sockets: WebSocket[] = []

  beforeEach(async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 } }], wsMaxFrameBytes: 4096 })
    client = new LabClient(gw.url, TEST_KEY)
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2)
    a = await client.createSession({ user: 'alice' })
    b = await client.createSession({ user: 'bob' })
  })
  afterEach(async () => {
    for (const ws of sockets) ws.terminate()
    await gw.cleanup()
  })

  const open = (attach = a.attach) => {
    const ws = client.openTerminal(attach)
    sockets.push(ws)
    return ws
  }

  it('refuses a missing, wrong or other session\'s token with 401 before the upgrade', async () => {
    const base = gw.url.replace('http', 'ws')
    expect(await refusedStatus(`${base}${a.attach.url}`)).toBe(401)
    expect(await refusedStatus(`${base}${a.attach.url}?token=wrong`)).toBe(401)
    expect(await refusedStatus(`${base}${a.attach.url}?token=${b.attach.token}`)).toBe(401)
  })

  it('carries bytes both ways, accepts resize and replays scrollback on re-attach', async () => {
    const ws = open()
    const got = collect(ws)
    await opened(ws)
    ws.send(Buffer.from('hello-terminal\n'), { binary: true })
    await waitFor(() => got.bytes.includes('hello-terminal'), 3000, 'echo')
    ws.send(JSON.stringify({ type: 'resize', cols: 100, rows: 30 }))
    const sandboxId = await sandboxOf(gw, a.id)
    await waitFor(() => driver(gw).agent(sandboxId)?.size.cols === 100, 3000, 'resize')
    ws.close()

    const again = open((await client.attach(a.id)))
    const replay = collect(again)
    await opened(again)
    await waitFor(() => replay.bytes.includes('hello-terminal'), 3000, 'scrollback replay')
  })

  it('answers a bad control message with an error frame and keeps the socket open', async () => {
    const ws = open()
    const got = collect(ws)
    await opened(ws)
    ws.send('not json')
    await waitFor(() => got.text.length > 0, 3000, 'error frame')
    expect(JSON.parse(got.text[0]!)).toMatchObject({ type: 'error', code: 'bad_message' })
    ws.send(Buffer.from('still-open\n'), { binary: true })
    await waitFor(() => got.bytes.includes('still-open'), 3000, 'echo after error')
  })

  it('answers a JSON null control message with an error frame instead of crashing the gateway', async () => {
    const ws = open()
    const got = collect(ws)
    await opened(ws)
    ws.send('null')
    await waitFor(() => got.text.length > 0, 3000, 'error frame')
    expect(JSON.parse(got.text[0]!)).toMatchObject({ type: 'error', code: 'bad_message' })
  })

  it('closes with 1009 on a frame over the limit, and the session survives', async () => {
    const ws = open()
    const got = collect(ws)
    await opened(ws)
    ws.send(Buffer.alloc(8192, 0x61), { binary: true })
    await waitFor(() => got.closeCode !== undefined, 3000, 'close')
    expect(got.closeCode).toBe(1009)
    expect((await client.getSession(a.id)).state).toBe('running')
  })

  it('sends exit and closes with 1000 when the session is deleted', async () => {
    const ws = open()
    const got = collect(ws)
    await opened(ws)
    await client.deleteSession(a.id)
    await waitFor(() => got.closeCode !== undefined, 3000, 'close')
    expect(got.closeCode).toBe(1000)
    expect(JSON.parse(got.text.at(-1)!)).toMatchObject({ type: 'exit', reason: 'terminated' })
  })

  it('ends the session with claim_failed when the agent refuses the claim after the 201', async () => {
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2 && gw.pools.get('default')!.controller.status().starting === 0, 5000, 'refill')
    const warm = await gw.store.listSandboxes({ state: 'warm' })
    expect(warm.length).toBe(2)
    for (const sb of warm) driver(gw).agent(sb.id)!.state = 'claimed'
    const c = await client.createSession({ user: 'carol' })
    expect(c.state).toBe('starting')
    const ws = open(c.attach)
    const got = collect(ws)
    await waitFor(() => got.closeCode !== undefined, 3000, 'close')
    expect(JSON.parse(got.text.at(-1)!)).toMatchObject({ type: 'exit', reason: 'claim_failed' })
    expect(await client.getSession(c.id)).toMatchObject({ state: 'ended', endedReason: 'claim_failed' })
  })

  it('ends the session with sandbox_lost when the sandbox dies, and the pool refills', async () => {
    const ws = open()
    const got = collect(ws)
    await opened(ws)
    driver(gw).kill(await sandboxOf(gw, a.id))
    await waitFor(() => got.closeCode !== undefined, 3000, 'close')
    expect(JSON.parse(got.text.at(-1)!)).toMatchObject({ type: 'exit', reason: 'sandbox_lost' })
    expect((await client.getSession(a.id))).toMatchObject({ state: 'ended', endedReason: 'sandbox_lost' })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2, 5000, 'refill')
  })
})

function driver(gw: Gw): FakeDriver {
  return gw.pools.get('default')!.driver as FakeDriver
}

async function sandboxOf(gw: Gw, sessionId: string): Promise<string> {
  return (await gw.store.getSession(sessionId))!.sandboxId!
}
