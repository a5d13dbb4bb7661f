// Integration: a sandbox is ready when its agent says hello, so a claim sent that instant must work.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { AgentMessage } from '@infra-lab/protocol'
import { TestClient, ensureBundle, startAgent, type AgentProcess } from './agent-harness.test-util.ts'

const AGENTS = 48
const AT_ONCE = 6
/** Longer than any wait the agent may keep for a shell that is still starting. */
const SLOW_SHELL_S = 6

let agents: AgentProcess[] = []
let clients: TestClient[] = []
let dirs: string[] = []

beforeAll(() => ensureBundle(), 60_000)
afterEach(async () => {
  clients.forEach((c) => c.close())
  await Promise.all(agents.map((a) => a.stop()))
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }))
  agents = []
  clients = []
  dirs = []
})

/** Starts an agent, connects the moment its socket accepts, and sends a claim as soon as the hello arrives. */
async function claimOnHello(sandboxId: string, shell?: string): Promise<AgentMessage> {
  const agent = startAgent(sandboxId, [], shell === undefined ? {} : { shell })
  agents.push(agent)
  const client = await TestClient.connect(agent.socketPath, 30_000, 1)
  clients.push(client)
  await client.waitFor('the hello', () => client.messages.find((m) => m.type === 'hello'), 30_000)
  const home = mkdtempSync(join(tmpdir(), 'agent-home-'))
  dirs.push(home)
  client.send({ type: 'claim', sessionId: `ses-${sandboxId}`, user: 'alice', home, env: {}, secrets: {} })
  const answer = await client.waitFor('ready or error', () => client.messages.find((m) => m.type === 'ready' || m.type === 'error'), 30_000)
  client.close()
  await agent.stop()
  return answer
}

describe('a claim sent the instant the agent says hello', () => {
  it(`is applied, every time (${AGENTS} agents, ${AT_ONCE} starting at once)`, async () => {
    const answers: AgentMessage[] = []
    for (let i = 0; i < AGENTS; i += AT_ONCE) {
      answers.push(...await Promise.all(Array.from({ length: AT_ONCE }, (_, k) => claimOnHello(`sbx-race-${i + k}`))))
    }
    expect(answers.filter((m) => m.type !== 'ready')).toEqual([])
  }, 180_000)

  it('is applied when the shell is slow to reach its claim FIFO: the hello waits for the shell, not the claim', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slow-shell-'))
    dirs.push(dir)
    const shell = join(dir, 'slow-bash')
    // A shell that takes longer to start than a loaded machine ever should: the agent must not announce it before.
    writeFileSync(shell, `#!/bin/sh\nsleep ${SLOW_SHELL_S}\nexec /bin/bash "$@"\n`)
    chmodSync(shell, 0o755)
    const answer = await claimOnHello('sbx-slow-shell', shell)
    expect(answer).toMatchObject({ type: 'ready', sessionId: 'ses-sbx-slow-shell' })
  }, 60_000)

  it('never comes from an agent whose shell died before it waited for a claim: the agent exits without a hello', async () => {
    const agent = startAgent('sbx-dead-shell', [], { shell: '/bin/false' })
    agents.push(agent)
    const code = await new Promise<number | null>((resolve) => agent.child.once('exit', (c) => resolve(c)))
    expect(code).toBe(1)
    expect(existsSync(agent.socketPath)).toBe(false)
    expect(agent.stderr).toContain('"event":"agent_failed"')
  }, 30_000)
})
