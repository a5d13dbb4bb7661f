// ECS tasks that are local sandboxes: only the ECS API is mocked (MockEcs). Each task is a real
// bubblewrap sandbox running the real agent, reached over the agent's TLS-PSK bridge, so what the
// ECS driver does crosses the same transport and privilege drop as on ECS.
import { randomBytes } from 'node:crypto'
import pino from 'pino'
import { EcsDriver } from '../src/drivers/ecs/ecs-driver.ts'
import { MockEcs, type TaskBackend } from '../src/drivers/ecs/mock-ecs.test-util.ts'
import type { LocalDriver } from '../src/drivers/local/local-driver.ts'
import type { SandboxHandle } from '../src/drivers/types.ts'
import type { SandboxLimits } from '../src/spec/pool-spec.ts'

export interface TaskSandboxes {
  readonly pool: string
  readonly limits: SandboxLimits
  readonly helloTimeoutMs: number
}

/** ECS tasks started as sandboxes of `local()` (a getter: callers may create the driver later). */
export function localTasks(local: () => LocalDriver, o: TaskSandboxes): { ecs: MockEcs; handles: Map<string, SandboxHandle> } {
  const handles = new Map<string, SandboxHandle>()
  const backend: TaskBackend = {
    async start(id) {
      const h = await local().create({ id, pool: o.pool, limits: o.limits, network: false, helloTimeoutMs: o.helloTimeoutMs })
      handles.set(id, h)
      if (h.address.kind !== 'unix') throw new Error('local sandbox without a unix socket')
      return { socketPath: h.address.path }
    },
    async stop(id) {
      handles.delete(id)
      await local().destroy(id)
    },
  }
  return { ecs: new MockEcs(backend), handles }
}

/** An ECS driver on those tasks; workspaces are bound by the local driver that runs them. */
export function ecsDriverOnLocal(local: () => LocalDriver, tasks: { ecs: MockEcs; handles: Map<string, SandboxHandle> }, agentPort: number, agentKey = randomBytes(32)): EcsDriver {
  return new EcsDriver(
    { cluster: 'lab', taskDefinition: 'lab-sandbox:1', subnets: ['subnet-a'], securityGroups: ['sg-a'], agentKey, agentPort, pollIntervalMs: 20, logger: pino({ level: 'silent' }) },
    { client: tasks.ecs.client, bindWorkspace: (h, user) => local().bindWorkspace(tasks.handles.get(h.id) ?? h, user) },
  )
}
