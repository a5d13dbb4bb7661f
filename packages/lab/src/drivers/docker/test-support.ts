import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pino from 'pino'
import { DockerDriver } from './docker-driver.ts'
import { DEFAULT_DOCKER_SOCKET, DockerEngine } from './engine.ts'
import { DEFAULT_SANDBOX_IMAGE, type DockerDriverOptions } from './options.ts'

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../../../..')
export const BUILD_IMAGE_SCRIPT = join(REPO_ROOT, 'docker/build-local-image.mjs')

/** Why Docker tests cannot run here (no root, no daemon answering), or undefined when they can. */
export async function dockerSkipReason(socketPath = DEFAULT_DOCKER_SOCKET): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the docker driver needs root (workspace bind mounts): run the tests as root'
  if (!existsSync(socketPath)) return `no Docker daemon: ${socketPath} does not exist (start dockerd)`
  try {
    await new DockerEngine(socketPath).ping()
  } catch (err) {
    return `no Docker daemon answers at ${socketPath}: ${(err as Error).message}`
  }
  return undefined
}

let building: Promise<void> | undefined

/** Builds the local sandbox image (npm run image:local) when the engine lacks it or it carries another agent bundle or recipe. */
export function ensureLocalImage(image = DEFAULT_SANDBOX_IMAGE): Promise<void> {
  building ??= (async () => {
    const res = await new DockerEngine().call('GET', `/images/${encodeURIComponent(image)}/json`)
    // Built from this checkout's agent bundle? (the label is set by build-local-image.mjs)
    const labels = res.status === 200 ? (JSON.parse(res.body.toString('utf8')) as { Config?: { Labels?: Record<string, string> } }).Config?.Labels : undefined
    const bundle = createHash('sha256').update(readFileSync(join(REPO_ROOT, 'packages/agent/dist/agent.mjs'))).digest('hex')
    const recipe = createHash('sha256').update(readFileSync(BUILD_IMAGE_SCRIPT)).digest('hex')
    if (labels?.['org.infra-lab.agent-sha256'] === bundle && labels['org.infra-lab.recipe-sha256'] === recipe) return
    await promisify(execFile)(process.execPath, [BUILD_IMAGE_SCRIPT, '--tag', image])
  })()
  return building
}

/** Scratch dirs and driver options for one test file; `cleanup` removes every container and dir. */
export async function dockerTestEnv(name: string, over: Partial<DockerDriverOptions> = {}) {
  await ensureLocalImage()
  const base = await mkdtemp(join(tmpdir(), `ilab-docker-${name}-`))
  const options: DockerDriverOptions = {
    dataDir: join(base, 'data'),
    workspacesDir: join(base, 'workspaces'),
    runtimeDir: `/run/infra-lab/test-docker-${name}-${process.pid}`,
    logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    ...over,
  }
  const makeDriver = async (more: Partial<DockerDriverOptions> = {}) => {
    const d = new DockerDriver({ ...options, ...more })
    await d.init()
    return d
  }
  const cleanup = async () => {
    await new DockerDriver({ ...options, dockerSocket: DEFAULT_DOCKER_SOCKET }).teardown()
    await rm(base, { recursive: true, force: true })
  }
  return { options, makeDriver, cleanup, workspacesDir: options.workspacesDir }
}
