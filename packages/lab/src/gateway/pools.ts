import type { SandboxDriver } from '../drivers/types.ts'
import type { PoolController } from '../pool/controller.ts'
import type { PoolSpec } from '../spec/pool-spec.ts'

/** A pool as the gateway runs it: its spec, its driver and its controller. */
export interface PoolRuntime {
  readonly spec: PoolSpec
  readonly driver: SandboxDriver
  readonly controller: PoolController
}
