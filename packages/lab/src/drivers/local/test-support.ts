import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { LocalDriver } from './local-driver.ts'
import type { LocalDriverOptions } from './options.ts'

/** The repo's real agent bundle (built by scripts/build.mjs). */
export const AGENT_BUNDLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../../../agent/dist')

/** Why local-driver tests cannot run on this host, or undefined when they can. */
export function localDriverSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'the local driver needs root (mounts, cgroups): run the tests as root'
  const path = (process.env.PATH ?? '').split(':')
  if (!path.some((d) => d && existsSync(join(d, 'bwrap')))) return 'bubblewrap is not installed (apt-get install bubblewrap)'
  return undefined
}

/** Scratch dirs and driver options for one test file; `cleanup` tears everything down. */
export async function localTestEnv(name: string, opts: { agentSource?: string } = {}) {
  const base = await mkdtemp(join(tmpdir(), `ilab-${name}-`))
  let agentBundleDir = AGENT_BUNDLE_DIR
  if (opts.agentSource !== undefined) {
    // A stand-in agent (e.g. one that never says hello); node-pty still resolves from this package.
    agentBundleDir = join(base, 'bundle')
    await mkdir(agentBundleDir)
    await writeFile(join(agentBundleDir, 'agent.mjs'), opts.agentSource)
    await copyFile(join(AGENT_BUNDLE_DIR, 'lab-exec'), join(agentBundleDir, 'lab-exec'))
  }
  const options: LocalDriverOptions = {
    dataDir: join(base, 'data'),
    workspacesDir: join(base, 'workspaces'),
    runtimeDir: `/run/infra-lab/test-${name}-${process.pid}`,
    agentBundleDir,
    logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
  }
  const makeDriver = async () => {
    const d = new LocalDriver(options)
    await d.init()
    return d
  }
  const cleanup = async () => {
    await (await makeDriver()).teardown()
    await rm(base, { recursive: true, force: true })
  }
  return { options, makeDriver, cleanup, workspacesDir: options.workspacesDir }
}
