// Integration: the built agent bundle as a real process, a real bash in a real PTY.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION, encodeFrame, FrameKind, type Claim } from '@infra-lab/protocol'
import { MAX_GATEWAY_CONNECTIONS } from '@infra-lab/protocol/ops-limits'
import { TestClient, ensureBundle, startAgent, type AgentProcess } from './agent-harness.test-util.ts'
import { STALLED_CONNECTION_MS } from './server.ts'

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

  it('keeps a second connection beside the first: a reconnect sees the claim and replays the scrollback', async () => {
    const { agent, client } = await started()
    await claimed(client, claimFor('sess-1'))
    client.input('echo marker-$((6*7))\r')
    await client.outputMatching(/marker-42/)

    const second = await TestClient.connect(agent.socketPath)
    clients.push(second)
    const hello = await second.message('hello')
    expect(hello).toMatchObject({ state: 'claimed', sessionId: 'sess-1' })

    second.send({ type: 'snapshot', requestId: 9 })
    const snap = await second.waitFor('snapshot 9', () => second.snapshots.get(9))
    expect(snap.toString()).toContain('marker-42')
    expect(snap.toString()).not.toContain(SECRET)

    second.send({ type: 'ping', id: 5 })
    expect(await second.message('pong')).toMatchObject({ id: 5 })
    // the answers went to the connection that asked
    expect(client.snapshots.has(9)).toBe(false)
    expect(client.messages.some((m) => m.type === 'pong')).toBe(false)
    expect(client.closed).toBe(false)
  })

  it('sends output to every connection and takes input from any (replicas)', async () => {
    const { agent, client } = await started()
    await claimed(client, claimFor('sess-1'))
    const second = await TestClient.connect(agent.socketPath)
    clients.push(second)
    await second.message('hello')
    const from1 = client.output.length
    const from2 = second.output.length
    second.input('echo from-$((2*21))-second\r')
    await client.outputMatching(/from-42-second/, from1)
    await second.outputMatching(/from-42-second/, from2)
    client.input('echo from-$((3*3))-first\r')
    await second.outputMatching(/from-9-first/, from2)
    expect(client.closed).toBe(false)
  })

  it('applies a claim once: the same session again gets ready, another session is refused', async () => {
    const { agent, client } = await started()
    const claim = claimFor('sess-1')
    const second = await TestClient.connect(agent.socketPath)
    clients.push(second)
    await second.message('hello')
    // both replicas send the claim at once
    client.send({ type: 'claim', ...claim })
    second.send({ type: 'claim', ...claim })
    const [a, b] = await Promise.all([client.message('ready'), second.message('ready')])
    expect(a).toMatchObject({ sessionId: 'sess-1' })
    expect(b).toMatchObject({ sessionId: 'sess-1', applyMs: a.applyMs })
    await client.outputMatching(/alice@sandbox:.*[$#] $/)
    expect(agent.stderr.match(/"claimed"/g)).toHaveLength(1)
    second.send({ type: 'claim', ...claimFor('sess-2') })
    expect(await second.message('error')).toMatchObject({ code: 'already_claimed' })
  })

  it(`keeps at most ${MAX_GATEWAY_CONNECTIONS} connections: one more closes the oldest`, async () => {
    const { agent, client } = await started()
    const more: TestClient[] = []
    for (let i = 1; i < MAX_GATEWAY_CONNECTIONS; i++) {
      const c = await TestClient.connect(agent.socketPath)
      clients.push(c)
      more.push(c)
      await c.message('hello')
    }
    expect(client.closed).toBe(false)
    const last = await TestClient.connect(agent.socketPath)
    clients.push(last)
    await last.message('hello')
    await client.waitFor('the oldest connection to close', () => (client.closed ? true : undefined))
    expect(more.every((c) => !c.closed)).toBe(true)
  })

  it('runs each connection\'s operations under its own ids, answered only to it', async () => {
    const { agent, client } = await started()
    await claimed(client, claimFor('sess-1'))
    const second = await TestClient.connect(agent.socketPath)
    clients.push(second)
    await second.message('hello')
    const exec = (cmd: string[]) => ({ type: 'exec', opId: 7, cmd, env: {}, stdin: false, timeoutMs: 10_000, background: false, tty: false })
    client.send(exec(['sh', '-c', 'exit 3']))
    second.send(exec(['sh', '-c', 'exit 5']))
    expect(await client.message('exec_exit')).toMatchObject({ opId: 7, exitCode: 3 })
    expect(await second.message('exec_exit')).toMatchObject({ opId: 7, exitCode: 5 })
    expect(client.messages.filter((m) => m.type === 'exec_exit')).toHaveLength(1)
    expect(second.messages.filter((m) => m.type === 'exec_exit')).toHaveLength(1)
  })

  it(`closes a connection that stops reading for ${STALLED_CONNECTION_MS / 1000} s while another keeps up; the shell goes on`, async () => {
    const { agent, client } = await started()
    await claimed(client, claimFor('sess-1'))
    const stuck = await TestClient.connect(agent.socketPath)
    clients.push(stuck)
    await stuck.message('hello')
    stuck.socket.pause() // reads nothing more: its socket fills
    const from = client.output.length
    // far more than the sockets' buffers hold, then a marker
    client.input('head -c 3000000 /dev/zero | tr "\\0" x; echo; echo after-$((40+2))\r')
    await client.waitFor('the stalled connection to be closed', () => (agent.stderr.includes('"connection_stalled"') ? true : undefined), STALLED_CONNECTION_MS + 10_000)
    await client.waitFor('the rest of the output', () => (client.output.subarray(Math.max(from, client.output.length - 200)).includes('after-42') ? true : undefined), 20_000)
    stuck.socket.resume() // what it had not read, then the end
    await stuck.waitFor('the stalled connection to see its close', () => (stuck.closed ? true : undefined), 20_000)
    expect(client.closed).toBe(false)
  }, STALLED_CONNECTION_MS + 30_000)

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
