import { chmod, copyFile, mkdir, readdir, rename, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { RuntimeLayout } from '../host/layout.ts'

export const SANDBOX_PASSWD = 'user:x:1000:1000::/home/user:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n'
export const SANDBOX_GROUP = 'user:x:1000:\nnogroup:x:65534:\n'

export interface RuntimeSources {
  /** Directory holding agent.mjs and its exec helper lab-exec (packages/agent/dist). */
  readonly agentBundleDir: string
  /** The node binary to run the agent with; copied when it does not lie under /usr. */
  readonly nodePath: string
}

/** Path of the node binary inside the sandbox. */
export function sandboxNodePath(nodePath: string): string {
  return nodePath.startsWith('/usr/') ? nodePath : '/opt/infra-lab/node'
}

/** Creates the runtime dir and refreshes the agent copy and the generated /etc files. */
export async function prepareRuntimeDir(layout: RuntimeLayout, src: RuntimeSources): Promise<void> {
  await mkdir(layout.root, { recursive: true, mode: 0o755 })
  for (const d of [layout.root, layout.agentDir, dirname(layout.passwd), layout.slotsDir]) {
    await mkdir(d, { recursive: true })
    await chmod(d, 0o755)
  }
  // Traversable, not listable: a sandbox uid cannot enumerate other sandboxes' sockets.
  await mkdir(layout.sandboxesDir, { recursive: true })
  await chmod(layout.sandboxesDir, 0o711)

  await replaceFile(join(src.agentBundleDir, 'agent.mjs'), join(layout.agentDir, 'agent.mjs'))
  // The agent runs every exec through it, and finds it beside itself.
  await replaceFile(join(src.agentBundleDir, 'lab-exec'), join(layout.agentDir, 'lab-exec'))
  const ptyDir = dirname(resolveNodePty(src.agentBundleDir))
  const ptyOut = join(layout.agentDir, 'node_modules/node-pty')
  await replaceFile(join(ptyDir, 'package.json'), join(ptyOut, 'package.json'))
  await copyTree(join(ptyDir, 'lib'), join(ptyOut, 'lib'), (name) => !name.endsWith('.test.js') && !name.endsWith('.map'))
  await copyTree(join(ptyDir, 'build/Release'), join(ptyOut, 'build/Release'), (name) => name.endsWith('.node') || name === 'spawn-helper')
  if (sandboxNodePath(src.nodePath) !== src.nodePath) await replaceFile(src.nodePath, join(layout.agentDir, 'node'))

  await writeAtomic(layout.passwd, SANDBOX_PASSWD)
  await writeAtomic(layout.group, SANDBOX_GROUP)
}

/**
 * Copy then rename: running sandboxes see the agent dir through a bind mount, so files are
 * replaced, never truncated or deleted under them.
 */
async function replaceFile(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true, mode: 0o755 })
  const tmp = `${to}.tmp-${process.pid}`
  await copyFile(from, tmp)
  await chmod(tmp, 0o755)
  await rename(tmp, to)
}

async function writeAtomic(to: string, text: string): Promise<void> {
  const tmp = `${to}.tmp-${process.pid}`
  await writeFile(tmp, text, { mode: 0o644 })
  await rename(tmp, to)
}

async function copyTree(from: string, to: string, keep: (name: string) => boolean): Promise<void> {
  for (const e of await readdir(from, { withFileTypes: true })) {
    if (e.isDirectory()) await copyTree(join(from, e.name), join(to, e.name), keep)
    else if (e.isFile() && keep(e.name)) await replaceFile(join(from, e.name), join(to, e.name))
  }
}

/** node-pty as the agent bundle would find it, else as this package does (workspaces hoist it). */
function resolveNodePty(agentBundleDir: string): string {
  try {
    return createRequire(join(agentBundleDir, 'agent.mjs')).resolve('node-pty/package.json')
  } catch {
    return createRequire(import.meta.url).resolve('node-pty/package.json')
  }
}
