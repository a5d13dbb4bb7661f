import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin']

/**
 * Runs `body` holding an exclusive lock on the file `path` (created if missing) that every process
 * of the host honours: the kernel's flock(2), taken and held by a flock(1) child for as long as
 * `body` runs. The lock goes with its holder: a gateway that dies (even `kill -9`) closes the
 * child's stdin, the child exits, and the kernel frees the lock, so no stale lock file is left to
 * break. Waits at most `waitMs` for another holder, then throws.
 */
export async function withFileLock<T>(path: string, waitMs: number, body: () => Promise<T>): Promise<T> {
  const flock = TOOL_DIRS.map((d) => join(d, 'flock')).find((p) => existsSync(p))
  if (!flock) throw new Error('flock (util-linux) is missing')
  const child = spawn(flock, ['--exclusive', '--wait', String(Math.max(1, Math.ceil(waitMs / 1000))), path, '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: TOOL_DIRS.join(':') },
  })
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => resolve(code))
    child.once('error', () => resolve(null))
  })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += String(d)
  })
  const locked = await new Promise<boolean>((resolve) => {
    child.stdout.once('data', () => resolve(true))
    void exited.then(() => resolve(false))
  })
  if (!locked) {
    child.stdin.destroy()
    const code = await exited
    throw new Error(`could not lock ${path} within ${waitMs} ms (flock exited ${code}${stderr ? `: ${stderr.trim()}` : ''})`)
  }
  try {
    return await body()
  } finally {
    child.stdin.end()
    await exited
  }
}
