import { existsSync } from 'node:fs'
import { chown, lstat, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { isValidUserName } from '@infra-lab/protocol'
import { ensureImageWorkspace, imagePath } from './workspace-image.ts'

// The one user-name rule (no leading dot: `.images` and friends are the gateway's, never a user's workspace).
export { isValidUserName }

export interface WorkspaceOptions {
  /** Host uid (and gid) that owns workspaces: the sandbox uid. */
  readonly uid: number
  /** Per-user disk quota in bytes; 0: plain directories without one. */
  readonly quotaBytes: number
  readonly logger: Logger
}

/**
 * Returns `<workspacesDir>/<user>`, owned by the sandbox uid, 0700, for the driver to bind. With
 * a quota it is the mount point of the user's image (workspace-image.ts); without one, a plain
 * directory made when missing, unless the user already has an image, which then still holds
 * their files. Refuses anything that is not a directory: a symlink there would bind its target.
 */
export async function ensureWorkspace(workspacesDir: string, user: string, o: WorkspaceOptions): Promise<string> {
  if (!isValidUserName(user)) throw new Error(`invalid user name ${JSON.stringify(user)}`)
  if (o.quotaBytes > 0 || existsSync(imagePath(workspacesDir, user))) return ensureImageWorkspace(workspacesDir, user, o)
  await mkdir(workspacesDir, { recursive: true, mode: 0o700 })
  const dir = join(workspacesDir, user)
  try {
    await mkdir(dir, { mode: 0o700 })
    await chown(dir, o.uid, o.uid)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  const st = await lstat(dir)
  if (st.isSymbolicLink()) throw new Error(`workspace ${dir} is a symlink; refusing to bind it`)
  if (!st.isDirectory()) throw new Error(`workspace ${dir} is not a directory`)
  return dir
}
