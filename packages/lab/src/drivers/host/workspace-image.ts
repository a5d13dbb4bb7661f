import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, chown, lstat, mkdir, open, readFile, readdir, realpath, rename, rm, rmdir, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import type { Logger } from 'pino'
import { withFileLock } from './file-lock.ts'
import { readdirIfExists } from './fs-util.ts'
import type { MountAddon } from './mounts.ts'
import { sleep } from './sleep.ts'

/**
 * Workspace quotas without file system quota support: each user's workspace is an ext4 image
 * file (`<workspacesDir>/.images/<user>.img`, sparse, root-only) loop-mounted at
 * `<workspacesDir>/<user>` on first use and kept mounted, so the claim binds it exactly as it
 * binds a plain directory. A full image gives the user ENOSPC and touches nothing else.
 */

const execFileP = promisify(execFile)
const TOOL_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin']
const TOOL_TIMEOUT_MS = 60_000
const LOOP_RELEASE_WAIT_MS = 5_000
/** Another gateway's mkfs and mount, each within TOOL_TIMEOUT_MS, then some. */
const LOCK_WAIT_MS = 2 * TOOL_TIMEOUT_MS + 10_000
/** Not a valid user name (no leading dot), so no user's workspace can be this directory. */
export const IMAGES_DIR = '.images'

export interface ImageWorkspaceOptions {
  /** Size of a new image; 0 creates none (an existing image is still mounted). */
  readonly quotaBytes: number
  /** Owner of the workspace's root directory (the sandbox uid). */
  readonly uid: number
  readonly logger: Logger
}

/**
 * Mount point -> the st_dev expected there: the image's file system, or the parent's for a
 * plain directory kept from before quotas. Shared by every driver of this process, as is the
 * lock below, since drivers may share a workspaces dir.
 */
const known = new Map<string, bigint>()
const inflight = new Map<string, Promise<string>>()

export function imagePath(workspacesDir: string, user: string): string {
  return join(workspacesDir, IMAGES_DIR, `${user}.img`)
}

/**
 * Returns the user's workspace directory with its image mounted there. Once this process has
 * mounted (or found) it, a call costs one lstat; the first call for a user takes a per-user
 * lock, in this process and on the host (`.images/<user>.lock`, shared with other gateways on
 * the workspaces dir), so two claims at once, of one gateway or of two, never create or mount
 * twice: two concurrent mounts of one image would set up two loop devices, two file systems
 * writing one file.
 */
export async function ensureImageWorkspace(workspacesDir: string, user: string, o: ImageWorkspaceOptions): Promise<string> {
  const dir = join(workspacesDir, user)
  const dev = known.get(dir)
  if (dev !== undefined) {
    const st = await lstat(dir, { bigint: true }).catch(() => undefined)
    if (st?.isDirectory() && st.dev === dev) return dir
    known.delete(dir) // unmounted or replaced from outside: look again
  }
  let pending = inflight.get(dir)
  if (!pending) {
    pending = prepare(workspacesDir, user, o).finally(() => inflight.delete(dir))
    inflight.set(dir, pending)
  }
  return pending
}

async function prepare(workspacesDir: string, user: string, o: ImageWorkspaceOptions): Promise<string> {
  const image = imagePath(workspacesDir, user)
  await mkdir(workspacesDir, { recursive: true, mode: 0o700 })
  await ensureImagesDir(dirname(image))
  // Everything from the look at the mount point to the mount, under the host-wide lock.
  return withFileLock(join(dirname(image), `${user}.lock`), LOCK_WAIT_MS, () => prepareLocked(workspacesDir, user, o))
}

async function prepareLocked(workspacesDir: string, user: string, o: ImageWorkspaceOptions): Promise<string> {
  const dir = join(workspacesDir, user)
  const image = imagePath(workspacesDir, user)
  const parentDev = (await stat(workspacesDir, { bigint: true })).dev
  const st = await lstat(dir, { bigint: true }).catch(() => undefined)
  if (st?.isSymbolicLink()) throw new Error(`workspace ${dir} is a symlink; refusing to bind it`)
  if (st && !st.isDirectory()) throw new Error(`workspace ${dir} is not a directory`)
  if (st && st.dev !== parentDev) {
    // Mounted already (by an earlier gateway run): reuse it if it is this user's image.
    if (!(await isLoopOf(st.dev, image))) throw new Error(`${dir} is a mount point of something other than ${image}; refusing to bind it`)
    known.set(dir, st.dev)
    return dir
  }
  if (st && (await readdir(dir)).length > 0) {
    // Files from before quotas: mounting over them would hide them, so the directory stays.
    o.logger.warn({ user, workspace: dir, image }, 'workspace predates the quota: kept as a plain directory without a disk limit; docs/operations.md says how to move it into an image')
    known.set(dir, parentDev)
    return dir
  }
  const fresh = !existsSync(image)
  if (fresh) {
    if (o.quotaBytes <= 0) throw new Error(`no image for ${user} and no quota to create one with`)
    await createImage(image, o.quotaBytes, o.uid)
  } else {
    const size = (await stat(image)).size
    if (o.quotaBytes > 0 && size !== o.quotaBytes) o.logger.info({ user, image, imageBytes: size, quotaBytes: o.quotaBytes }, 'workspace image keeps its size: the quota applies to new images')
  }
  if (!st) await mkdir(dir, { mode: 0o700 })
  await run('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev,noatime', image, dir])
  const mounted = await lstat(dir, { bigint: true })
  if (mounted.dev === parentDev) throw new Error(`mount of ${image} at ${dir} left no file system there`)
  await chown(dir, o.uid, o.uid)
  await chmod(dir, 0o700)
  // Recreated by e2fsck when it needs one; in a home directory it only confuses the user.
  if (fresh) await rmdir(join(dir, 'lost+found')).catch(() => undefined)
  known.set(dir, mounted.dev)
  o.logger.info({ user, image, imageBytes: (await stat(image)).size, fresh }, 'workspace image mounted')
  return dir
}

/** Root-only: the images hold every user's data, readable by anyone who can read the files. */
async function ensureImagesDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const st = await lstat(dir)
  if (!st.isDirectory() || st.uid !== 0) throw new Error(`${dir} must be a directory owned by root`)
  if ((st.mode & 0o777) !== 0o700) await chmod(dir, 0o700)
}

/**
 * A sparse file of `bytes` with an ext4 file system whose root belongs to `uid`. Built under
 * a temporary name and renamed, so an image that exists is always complete: a leftover
 * temporary file never held user data and is replaced. No blocks are reserved for root.
 */
async function createImage(image: string, bytes: number, uid: number): Promise<void> {
  const tmp = `${image}.new`
  await rm(tmp, { force: true })
  const fh = await open(tmp, 'wx', 0o600)
  try {
    await fh.truncate(bytes)
  } finally {
    await fh.close()
  }
  try {
    await run('mkfs.ext4', ['-q', '-m', '0', '-E', `root_owner=${uid}:${uid}`, tmp])
    await rename(tmp, image)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
}

/** The file behind block device `dev` when it is a loop device (from sysfs), else undefined. */
async function loopBackingFile(dev: bigint): Promise<string | undefined> {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn)
  return readFile(`/sys/dev/block/${major}:${minor}/loop/backing_file`, 'utf8').then((s) => s.trim(), () => undefined)
}

/** Whether the block device `dev` is a loop device backed by `image`. */
async function isLoopOf(dev: bigint, image: string): Promise<boolean> {
  const backing = await loopBackingFile(dev)
  return backing !== undefined && backing === (await realpath(image).catch(() => undefined))
}

/**
 * Unmounts every workspace image mounted under `workspacesDir` (images and data stay). Their
 * loop devices were set up with autoclear by mount(8), so each is freed once its file system
 * is no longer mounted anywhere, i.e. once the sandboxes that had it bound are gone too; the
 * kernel does that asynchronously, so this waits a bounded time for it.
 */
export async function unmountWorkspaceImages(workspacesDir: string, addon: MountAddon, logger: Logger): Promise<number> {
  for (const dir of known.keys()) if (dirname(dir) === workspacesDir) known.delete(dir)
  const parent = await stat(workspacesDir, { bigint: true }).catch(() => undefined)
  if (!parent) return 0
  const detached: { dev: bigint; image: string }[] = []
  for (const name of await readdirIfExists(join(workspacesDir, IMAGES_DIR))) {
    if (!name.endsWith('.img')) continue
    const dir = join(workspacesDir, name.slice(0, -'.img'.length))
    const image = join(workspacesDir, IMAGES_DIR, name)
    // Stacked mounts of the same image (two gateways racing) come off one by one.
    for (let i = 0; i < 16; i++) {
      const st = await lstat(dir, { bigint: true }).catch(() => undefined)
      if (!st || st.dev === parent.dev || !(await isLoopOf(st.dev, image))) break
      detached.push({ dev: st.dev, image })
      try {
        addon.umount(dir, false)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err
        logger.warn({ workspace: dir }, 'workspace image busy on the host: detached lazily, its loop device is freed when the last user goes')
        addon.umount(dir, true)
      }
    }
  }
  const deadline = Date.now() + LOOP_RELEASE_WAIT_MS
  for (const d of detached) {
    while ((await isLoopOf(d.dev, d.image)) && Date.now() < deadline) await sleep(20)
    if (await isLoopOf(d.dev, d.image)) logger.warn({ image: d.image }, 'loop device of a workspace image still attached (a sandbox may still have it bound)')
  }
  return detached.length
}

async function run(tool: string, args: string[]): Promise<void> {
  const path = TOOL_DIRS.map((d) => join(d, tool)).find((p) => existsSync(p))
  if (!path) throw new Error(`workspace quotas need ${tool}: apt-get install e2fsprogs mount (or turn quotas off with --workspace-quota 0)`)
  try {
    await execFileP(path, args, { env: { PATH: TOOL_DIRS.join(':') }, timeout: TOOL_TIMEOUT_MS })
  } catch (err) {
    const e = err as Error & { stderr?: string }
    throw new Error(`${tool} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`, { cause: err })
  }
}
