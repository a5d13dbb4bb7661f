import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FakeAgent } from '../fake/fake-agent.ts'
import type { TaskBackend } from './mock-ecs.test-util.ts'

/** Mocked ECS tasks backed by in-process fake agents (fast, no root). */
export class FakeAgentBackend implements TaskBackend {
  readonly agents = new Map<string, FakeAgent>()
  private readonly dir = mkdtempSync(join(tmpdir(), 'lab-ecs-'))

  async start(id: string): Promise<{ socketPath: string }> {
    const socketPath = join(this.dir, `${id}.sock`)
    const agent = new FakeAgent(id, socketPath)
    await agent.listen()
    this.agents.set(id, agent)
    return { socketPath }
  }

  async stop(id: string): Promise<void> {
    const a = this.agents.get(id)
    this.agents.delete(id)
    await a?.close()
  }

  async close(): Promise<void> {
    for (const id of [...this.agents.keys()]) await this.stop(id)
    rmSync(this.dir, { recursive: true, force: true })
  }
}
