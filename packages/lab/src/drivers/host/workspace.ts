import { chown, lstat, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { isValidUserName } from '@infra-lab/protocol'

export { isValidUserName }

/**
 * Returns `<workspacesDir>/<user>`, creating it (owned by the sandbox uid, 0700) when missing.
 * Refuses anything that is not a plain directory: a symlink there would bind its target.
 */
export async function ensureWorkspace(workspacesDir: string, user: string, uid: number): Promise<string> {
  if (!isValidUserName(user)) throw new Error(`invalid user name ${JSON.stringify(user)}`)
  await mkdir(workspacesDir, { recursive: true, mode: 0o700 })
  const dir = join(workspacesDir, user)
  try {
    await mkdir(dir, { mode: 0o700 })
    await chown(dir, uid, uid)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  const st = await lstat(dir)
  if (st.isSymbolicLink()) throw new Error(`workspace ${dir} is a symlink; refusing to bind it`)
  if (!st.isDirectory()) throw new Error(`workspace ${dir} is not a directory`)
  return dir
}
