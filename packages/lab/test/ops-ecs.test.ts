import { randomBytes } from 'node:crypto'
import pino from 'pino'
import { describe } from 'vitest'
import { EcsDriver } from '../src/drivers/ecs/ecs-driver.ts'
import { MockEcs, type TaskBackend } from '../src/drivers/ecs/mock-ecs.test-util.ts'
import { SANDBOX_UID } from '../src/drivers/local/bwrap-args.ts'
import type { LocalDriver } from '../src/drivers/local/local-driver.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { runOpsSuite } from '../src/drivers/ops-suite.ts'
import type { SandboxHandle } from '../src/drivers/types.ts'

/**
 * Commands and files through the ECS driver: only the ECS API is mocked. Each task is a real
 * bubblewrap sandbox running the real agent, reached over its TLS-PSK bridge with the per-task key
 * (as ecs-contract.test.ts), so the operations' frames cross the same transport as on ECS.
 */
const skip = localDriverSkipReason()
describe.skipIf(skip !== undefined)(`ecs (mocked ECS API, tasks are local sandboxes)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  runOpsSuite('ecs', async () => {
    const env = await localTestEnv('ops-ecs')
    const local: LocalDriver = await env.makeDriver()
    const handles = new Map<string, SandboxHandle>()
    const backend: TaskBackend = {
      async start(id) {
        const h = await local.create({ id, pool: 'ops', limits: { pids: 128, memoryMb: 512, cpus: 1 }, network: false, helloTimeoutMs: 15_000 })
        handles.set(id, h)
        if (h.address.kind !== 'unix') throw new Error('local sandbox without a unix socket')
        return { socketPath: h.address.path }
      },
      async stop(id) {
        handles.delete(id)
        await local.destroy(id)
      },
    }
    const ecs = new MockEcs(backend)
    const driver = new EcsDriver(
      { cluster: 'lab', taskDefinition: 'lab-sandbox:1', subnets: ['subnet-a'], securityGroups: ['sg-a'], agentKey: randomBytes(32), agentPort: 17300, pollIntervalMs: 20, logger: pino({ level: 'silent' }) },
      { client: ecs.client, bindWorkspace: (h, user) => local.bindWorkspace(handles.get(h.id) ?? h, user) },
    )
    return {
      driver, workspacesDir: env.workspacesDir, workspaceUid: local.options.sandboxUid, shellUid: SANDBOX_UID,
      cleanup: async () => {
        await ecs.close()
        await env.cleanup()
      },
    }
  })
})
