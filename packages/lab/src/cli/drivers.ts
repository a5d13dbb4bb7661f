import type { Logger } from 'pino'
import type { GatewayConfig } from '../config/load.ts'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { LocalDriver } from '../drivers/local/local-driver.ts'
import type { SandboxDriver } from '../drivers/types.ts'
import type { DriverName } from '../pool/spec.ts'
import { agentBundleDir } from '../paths.ts'

/** Builds a driver by name (the composition root decides which implementations exist). */
export function driverFactory(config: GatewayConfig, logger: Logger): (name: DriverName) => Promise<SandboxDriver> {
  return async (name) => {
    switch (name) {
      case 'local':
        return new LocalDriver({ dataDir: config.dataDir, workspacesDir: config.workspacesDir, agentBundleDir: agentBundleDir(), logger })
      case 'docker': {
        // Plain HTTP on the daemon's socket; INFRA_LAB_DOCKER_IMAGE picks another sandbox image.
        const { DockerDriver } = await import('../drivers/docker/index.ts')
        const image = process.env.INFRA_LAB_DOCKER_IMAGE
        return new DockerDriver({ dataDir: config.dataDir, workspacesDir: config.workspacesDir, logger, ...(image ? { image } : {}) })
      }
      case 'fake':
        return new FakeDriver()
      case 'ecs': {
        // Loaded on demand: the AWS SDK costs start-up time for every other driver.
        const { EcsDriver, ecsOptionsFromEnv } = await import('../drivers/ecs/index.ts')
        const parsed = ecsOptionsFromEnv(process.env, logger)
        if ('errors' in parsed) throw new Error(`--driver ecs: ${parsed.errors.join('; ')} (see docs/aws.md)`)
        return new EcsDriver(parsed.options)
      }
      default:
        throw new Error(`the ${name} driver is not available in this build; use --driver local or docker`)
    }
  }
}
