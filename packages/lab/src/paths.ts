import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root (holds packages/agent/dist), found from this file's location. */
export function findRepoRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from
  for (;;) {
    if (existsSync(join(dir, 'packages', 'agent', 'package.json'))) return dir
    const up = dirname(dir)
    if (up === dir) throw new Error(`cannot find the repository root above ${from}`)
    dir = up
  }
}

export function agentBundleDir(root = findRepoRoot()): string {
  return join(root, 'packages', 'agent', 'dist')
}
