// Integration: the built agent bundle as a real process, a real bash in a real PTY.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION, encodeFrame, FrameKind, type Claim } from '@infra-lab/protocol'
import { TestClient, ensureBundle, startAgent, type AgentProcess } from './agent-harness.test-util.ts'

const SECRET = 'sk-live-SECRET-do-not-leak-7f3a'
let agents: AgentProcess[] = []
let clients: TestClient[] = []
let homes: string[] = []

beforeAll(() => ensureBundle(), 60_000)
afterEach(async () => {
  clients.forEach((c) => c.close())
  await Promise.all(agents.map((a) => a.stop()))
  homes.forEach((h) => rmSync(h, { recursive: true, force: true }))
  agents = []
  clients = []
  homes = []
})

async function started(sandboxId?: string): Promise<{ agent: AgentProcess; client: TestClient }> {
  const agent = startAgent(sandboxId)
  agents.push(agent)
  const client = await TestClient.connect(agent.socketPath)
  clients.push(client)
  await client.message('hello')
  return { agent, client }
}

function claimFor(sessionId: string, extra: Partial<Claim> = {}): Omit<Claim, 'type'> {
  const home = mkdtempSync(join(tmpdir(), 'agent-home-'))
  homes.push(home)
  return { sessionId, user: 'alice', home, env: { FOO: "bar 'baz'\n$x" }, secrets: { API_TOKEN: SECRET }, ...extra }
}

async function claimed(client: TestClient, claim: Omit<Claim, 'type'>) {
  client.send({ type: 'claim', ...claim })
  const ready = await client.message('ready')
  await client.outputMatching(/alice@sandbox:.*[$#] $/)
  return ready
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() || e.isFIFO())
    .map((e) => join(e.parentPath, e.name))
}

describe('agent process', () => {
  it('says hello as a warm sandbox on connect', async () => {
    const { agent, client } = await started('sbx-hello')
    const hello = client.messages[0]
    expect(hello).toMatchObject({ type: 'hello', protocol: PROTOCOL_VERSION, sandboxId: 'sbx-hello', state: 'warm', pid: agent.child.pid })
    expect(hello?.type === 'hello' && hello.sessionId).toBeFalsy()
    expect(agent.stderr).toContain('"event":"agent_ready"')
  })

  it('applies a claim: env set, home is cwd, secret usable but never printed nor on disk, no history trace', async () => {
    const { agent, client } = await started()
    const claim = claimFor('sess-1')
    const ready = await claimed(client, claim)
    expect(ready).toMatchObject({ type: 'ready', sessionId: 'sess-1' })
    expect(ready.applyMs).toBeGreaterThanOrEqual(0)

    let from = client.output.length
    client.input('printf "<%s>\\n" "$FOO"\r')
    await client.outputMatching(/<bar 'baz'\r?\n\$x>/, from)

    from = client.output.length
    client.input('pwd; echo "user=$USER home=$HOME sid=$INFRA_LAB_SESSION_ID"\r')
    const pwd = await client.outputMatching(/[\r\n](\/[^\r\n]*)\r?\n(user=.*)\r?\n/, from)
    expect(pwd[1]).toBe(claim.home)
    expect(pwd[2]).toBe(`user=alice home=${claim.home} sid=sess-1`)

    from = client.output.length
    client.input('echo "secret-length=${#API_TOKEN}"; history | grep -c -e "expor[t] " -e "API_TOKE[N]=" -e "claim[.]fifo"\r')
    const len = await client.outputMatching(/secret-length=(\d+)\r?\n(\d+)\r?\n/, from)
    expect(Number(len[1])).toBe(SECRET.length)
    expect(len[2], client.text).toBe("0")

    expect(client.text).not.toContain(SECRET)
    for (const file of filesUnder(agent.stateDir)) {
      if (statSync(file).isFile()) expect(readFileSync(file, 'utf8'), file).not.toContain(SECRET)
    }
    expect(agent.stderr).not.toContain(SECRET)
    expect(agent.stderr).not.toContain('baz')
  })

  it('refuses a second claim', async () => {
    const { client } = await started()
    await claimed(client, claimFor('sess-1'))
    client.send({ type: 'claim', ...claimFor('sess-2') })
    expect(await client.message('error')).toMatchObject({ code: 'already_claimed' })
  })

  it('resizes the PTY at claim and on resize', async () => {
    const { client } = await started()
    await claimed(client, claimFor('sess-1', { cols: 100, rows: 30 }))
    let from = client.output.length
    client.input('stty size\r')
    expect((await client.outputMatching(/[\r\n](\d+ \d+)\r?\n/, from))[1]).toBe('30 100')
    client.send({ type: 'resize', cols: 132, rows: 43 })
    from = client.output.length
    client.input('stty size\r')
    expect((await client.outputMatching(/[\r\n](\d+ \d+)\r?\n/, from))[1]).toBe('43 132')
  })

  it('replaces the connection on reconnect and replays the scrollback', async () => {
    const { agent, client } = await started()
    await claimed(client, claimFor('sess-1'))
    client.input('echo marker-$((6*7))\r')
    await client.outputMatching(/marker-42/)

    const second = await TestClient.connect(agent.socketPath)
    clients.push(second)
    const hello = await second.message('hello')
    expect(hello).toMatchObject({ state: 'claimed', sessionId: 'sess-1' })
    await client.waitFor('the old connection to close', () => (client.closed ? true : undefined))

    second.send({ type: 'snapshot', requestId: 9 })
    const snap = await second.waitFor('snapshot 9', () => second.snapshots.get(9))
    expect(snap.toString()).toContain('marker-42')
    expect(snap.toString()).not.toContain(SECRET)

    second.send({ type: 'ping', id: 5 })
    expect(await second.message('pong')).toMatchObject({ id: 5 })
  })

  it('reports exit 3 as exited, stays up, and repeats the exit after hello on reconnect', async () => {
    const { agent, client } = await started()
    await claimed(client, claimFor('sess-1'))
    client.input('exit 3\r')
    expect(await client.message('exit')).toEqual({ type: 'exit', code: 3, signal: null, reason: 'exited' })

    const again = await TestClient.connect(agent.socketPath)
    clients.push(again)
    await again.waitFor('hello and exit', () => (again.messages.length >= 2 ? true : undefined))
    expect(again.messages[0]).toMatchObject({ type: 'hello', state: 'exited', sessionId: 'sess-1' })
    expect(again.messages[1]).toMatchObject({ type: 'exit', code: 3, reason: 'exited' })
    expect(agent.child.exitCode).toBeNull()
  })

  it('terminates the shell on request with reason terminated', async () => {
    const { client } = await started()
    await claimed(client, claimFor('sess-1'))
    client.input('sleep 60\r')
    await new Promise((r) => setTimeout(r, 100))
    client.send({ type: 'terminate' })
    expect(await client.message('exit')).toMatchObject({ reason: 'terminated', code: null })
  })

  it('terminates a warm shell that was never claimed, and refuses to claim it afterwards', async () => {
    const { client } = await started()
    await new Promise((r) => setTimeout(r, 50))
    client.send({ type: 'terminate' })
    expect(await client.message('exit')).toMatchObject({ reason: 'terminated' })
    client.send({ type: 'claim', ...claimFor('too-late') })
    expect(await client.message('error')).toMatchObject({ code: 'claim_failed' })
    expect(client.text).toBe('')
  })

  it('survives malformed input: bad JSON, unknown messages, bad claims, an oversized frame', async () => {
    const { agent, client } = await started()
    client.socket.write(encodeFrame(FrameKind.CONTROL, '{not json'))
    client.send({ type: 'launch-missiles' })
    client.send({ type: 'claim', sessionId: 'x', user: '../root', home: 'relative', env: { HOME: '/' }, secrets: {} })
    await client.waitFor('three errors', () => (client.messages.filter((m) => m.type === 'error').length >= 3 ? true : undefined))
    for (const m of client.messages.filter((m) => m.type === 'error')) expect(m).toMatchObject({ code: 'bad_message' })

    // A header announcing 64 MiB: the agent drops this connection rather than buffering it.
    const header = Buffer.alloc(5)
    header.writeUInt8(FrameKind.CONTROL, 0)
    header.writeUInt32BE(64 * 1024 * 1024, 1)
    client.socket.write(header)
    await client.waitFor('the connection to close', () => (client.closed ? true : undefined))

    const next = await TestClient.connect(agent.socketPath)
    clients.push(next)
    expect(await next.message('hello')).toMatchObject({ state: 'warm' })
    await claimed(next, claimFor('sess-ok'))
    expect(agent.child.exitCode).toBeNull()
  })

  it('shows the first prompt within milliseconds of the claim (median of 20 printed)', async () => {
    const times: number[] = []
    const apply: number[] = []
    for (let i = 0; i < 20; i++) {
      const { agent, client } = await started(`sbx-lat-${i}`)
      await new Promise((r) => setTimeout(r, 50)) // let bash reach its blocking open of the FIFO
      const t0 = performance.now()
      client.send({ type: 'claim', ...claimFor(`sess-${i}`) })
      await client.waitFor('first output byte', () => (client.output.length > 0 ? true : undefined))
      times.push(performance.now() - t0)
      apply.push((await client.message('ready')).applyMs)
      await client.outputMatching(/alice@sandbox:/)
      client.close()
      await agent.stop()
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    console.log(`claim -> first prompt byte: median ${median(times).toFixed(2)} ms, max ${Math.max(...times).toFixed(2)} ms; applyMs median ${median(apply).toFixed(2)} ms`)
    expect(times).toHaveLength(20)
  }, 60_000)
})
