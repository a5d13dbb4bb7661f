import type { Logger } from 'pino'
import type { GatewayConfig } from '../config/load.ts'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { LocalDriver } from '../drivers/local/local-driver.ts'
import type { SandboxDriver } from '../drivers/types.ts'
import type { DriverName } from '../spec/pool-spec.ts'
import { agentBundleDir } from '../paths.ts'
import type { DriverExtras } from '../gateway/gateway.ts'

/** Builds a driver by name (the composition root decides which implementations exist). */
export function driverFactory(config: GatewayConfig, logger: Logger): (name: DriverName, extras?: DriverExtras) => Promise<SandboxDriver> {
  return async (name, extras = {}) => {
    const egress = extras.egress ? { egress: extras.egress } : {}
    switch (name) {
      case 'local':
        return new LocalDriver({ dataDir: config.dataDir, workspacesDir: config.workspacesDir, workspaceQuotaBytes: config.workspaceQuotaBytes, agentBundleDir: agentBundleDir(), logger, ...egress })
      case 'docker': {
        // Plain HTTP on the daemon's socket; INFRA_LAB_DOCKER_IMAGE picks another sandbox image.
        const { DockerDriver } = await import('../drivers/docker/index.ts')
        const image = process.env.INFRA_LAB_DOCKER_IMAGE
        return new DockerDriver({ dataDir: config.dataDir, workspacesDir: config.workspacesDir, workspaceQuotaBytes: config.workspaceQuotaBytes, logger, ...egress, ...(image ? { image } : {}) })
      }
      case 'fake':
        return new FakeDriver()
      case 'ecs': {
        // Loaded on demand: the AWS SDK costs start-up time for every other driver.
        // The config loader has checked the ecs section is complete (flags > env > file).
        const { EcsDriver, ecsOptionsFromConfig, resolveAgentKey } = await import('../drivers/ecs/index.ts')
        if (!config.ecs) throw new Error('--driver ecs needs --cluster, --task-definition and --subnets (see docs/aws.md)')
        const { key, source } = resolveAgentKey(config.dataDir, config.ecs.agentKey)
        if (source === 'generated') logger.warn('ecs: generated an agent key into the data dir; set INFRA_LAB_ECS_AGENT_KEY to share one between gateways')
        return new EcsDriver(ecsOptionsFromConfig(config.ecs, key, logger))
      }
      default:
        throw new Error(`the ${name} driver is not available in this build; use --driver local or docker`)
    }
  }
}
