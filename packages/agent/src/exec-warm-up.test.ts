import { rmSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { TestClient, ensureBundle, startAgent, type AgentProcess } from './agent-harness.test-util.ts'

let agent: AgentProcess | undefined
let client: TestClient | undefined
let home: string | undefined

beforeAll(() => ensureBundle())

afterEach(async () => {
  client?.close()
  await agent?.stop()
  if (home) rmSync(home, { recursive: true, force: true })
  agent = client = home = undefined
})

describe('exec warm-up', () => {
  it('runs the exec helper to its exit before the hello, and its process is in no session', async () => {
    agent = startAgent('sbx-warm-exec')
    client = await TestClient.connect(agent.socketPath)
    await client.message('hello')
    // Logged before the socket listens: it is on stderr by the time the hello is read, or soon.
    await client.waitFor('the warm-up log line', () => (agent!.stderr.includes('"exec_warmed"') ? true : undefined))
    const line = agent.stderr.split('\n').find((l) => l.includes('"exec_warmed"'))!
    expect(JSON.parse(line)).toMatchObject({ outcome: 'exec_exit' })
    home = mkdtempSync(join(tmpdir(), 'agent-home-'))
    client.send({ type: 'claim', sessionId: 'sess-warm', user: 'alice', home, env: {}, secrets: {} })
    await client.message('ready')
    client.send({ type: 'list_processes', opId: 1 })
    expect(await client.message('process_list')).toMatchObject({ opId: 1, processes: [] })
    client.send({ type: 'exec', opId: 2, cmd: ['true'], env: {}, stdin: false, timeoutMs: 10_000, background: false, tty: false })
    expect(await client.message('exec_exit')).toMatchObject({ opId: 2, exitCode: 0 })
  }, 30_000)
})
