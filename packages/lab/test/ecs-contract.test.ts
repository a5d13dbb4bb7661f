import { randomBytes } from 'node:crypto'
import pino from 'pino'
import { afterAll, beforeAll, describe } from 'vitest'
import { runDriverContract } from '../src/drivers/contract.ts'
import { EcsDriver } from '../src/drivers/ecs/ecs-driver.ts'
import { MockEcs, type TaskBackend } from '../src/drivers/ecs/mock-ecs.test-util.ts'
import type { LocalDriver } from '../src/drivers/local/local-driver.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import type { SandboxHandle } from '../src/drivers/types.ts'

/**
 * The driver contract end to end: only the ECS API is mocked. Each mocked task is a real
 * bubblewrap sandbox running the real agent, reached over the agent's TLS-PSK bridge on a
 * loopback address of its own, with the per-task key the driver put in RunTask's overrides.
 */
const skip = localDriverSkipReason()

describe.skipIf(skip !== undefined)(`ecs contract against local sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof localTestEnv>>
  let local: LocalDriver
  let ecs: MockEcs
  const handles = new Map<string, SandboxHandle>()
  const backend: TaskBackend = {
    async start(id) {
      const h = await local.create({ id, pool: 'contract', limits: { pids: 128, memoryMb: 256, cpus: 1 }, network: false, helloTimeoutMs: 15_000 })
      handles.set(id, h)
      if (h.address.kind !== 'unix') throw new Error('local sandbox without a unix socket')
      return { socketPath: h.address.path }
    },
    async stop(id) {
      handles.delete(id)
      await local.destroy(id)
    },
  }
  const agentKey = randomBytes(32)
  beforeAll(async () => {
    env = await localTestEnv('ecs')
    local = await env.makeDriver()
    ecs = new MockEcs(backend)
  })
  runDriverContract('ecs (mocked ECS API, tasks are local sandboxes)', async () => new EcsDriver(
    { cluster: 'lab', taskDefinition: 'lab-sandbox:1', subnets: ['subnet-a'], securityGroups: ['sg-a'], agentKey, agentPort: 17200, pollIntervalMs: 20, logger: pino({ level: 'silent' }) },
    { client: ecs.client, bindWorkspace: (h, user) => local.bindWorkspace(handles.get(h.id) ?? h, user) },
  ), { helloTimeoutMs: 20_000 })
  afterAll(async () => {
    await ecs?.close()
    await env?.cleanup()
  })
})
