import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { DockerEngine, DEFAULT_DOCKER_SOCKET } from '../drivers/docker/engine.ts'
import { DRIVER_NAMES } from '../spec/pool-spec.ts'

export interface ProbeEnv {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly isRoot: boolean
  /** Answers when the Docker daemon at `socket` answers a ping; rejects otherwise. */
  readonly pingDocker: (socket: string) => Promise<void>
}

export const realProbeEnv = (env: ProbeEnv['env']): ProbeEnv => ({
  env,
  isRoot: process.getuid?.() === 0,
  pingDocker: (socket) => new DockerEngine(socket, 3_000).ping(),
})

/**
 * Why `bench startup` cannot start a gateway with this driver here, or undefined when it can.
 * A driver that is not available is skipped (not an error), so `--driver local,docker` and
 * `bench all` run on any machine.
 */
export async function startupDriverUnavailable(driver: string, p: ProbeEnv): Promise<string | undefined> {
  if (!(DRIVER_NAMES as readonly string[]).includes(driver)) return `no driver named ${driver} (drivers: ${DRIVER_NAMES.join(', ')})`
  switch (driver) {
    case 'local':
      if (!p.isRoot) return 'the local driver needs root (mounts, cgroups)'
      if (!onPath('bwrap', p.env.PATH)) return 'bubblewrap (bwrap) is not on PATH: apt-get install -y bubblewrap'
      return undefined
    case 'docker': {
      if (!p.isRoot) return 'the docker driver needs root (workspace bind mounts)'
      const socket = DEFAULT_DOCKER_SOCKET // the gateway's driver factory uses the default socket
      try {
        await p.pingDocker(socket)
        return undefined
      } catch (err) {
        return `${(err as Error).message.split('\n')[0]} (socket ${socket}); start dockerd, see docs/docker.md`
      }
    }
    case 'ecs':
      return 'a gateway with ECS sandboxes runs in AWS, not on this machine: measure it with bench startup --url <gateway> --key <key>'
    default:
      return undefined
  }
}

function onPath(bin: string, path = ''): boolean {
  return path.split(delimiter).filter(Boolean).some((dir) => {
    try {
      accessSync(join(dir, bin), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}
