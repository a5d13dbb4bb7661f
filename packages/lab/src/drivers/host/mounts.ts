import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The N-API addon in packages/lab/native (mount(2), a checked connect and a conntrack query, without a process per call). */
export interface MountAddon {
  bind(src: string, dst: string): void
  makeShared(path: string): void
  makePrivate(path: string): void
  umount(path: string, detach: boolean): void
  /** A tmpfs of `sizeBytes` owned by uid:uid with `mode`, nosuid, nodev, noexec. */
  mountTmpfs(path: string, sizeBytes: number, uid: number, mode: number): void
  /** Connects to the socket inode `<dir>/<name>` without following a symlink at either; SO_PEERCRED of the listener. */
  connectNoFollow(dir: string, name: string): { fd: number; pid: number; uid: number; gid: number }
  /** A TCP socket's destination before DNAT (SO_ORIGINAL_DST); undefined when conntrack has none. Use originalDstOf. */
  originalDst(fd: number): { address: string; port: number } | undefined
}

const ADDON = 'native/build/Release/lab_mount.node'

let cached: MountAddon | undefined

/** Loads the addon from the source tree (src/drivers/host) or the CLI bundle (dist/). */
export function loadMountAddon(): MountAddon {
  if (cached) return cached
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, '../../../', ADDON), join(here, '../', ADDON)]
  const found = candidates.find((p) => existsSync(p))
  if (!found) throw new Error(`the local driver's mount addon is not built (${candidates[0]}): run \`npm run build\``)
  cached = createRequire(import.meta.url)(found) as MountAddon
  return cached
}

export interface MountEntry {
  readonly mountPoint: string
  /** Optional fields, e.g. `shared:12`, `master:3`. */
  readonly optional: readonly string[]
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

/** Parses /proc/<pid>/mountinfo. Pure. */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    const f = line.split(' ')
    const sep = f.indexOf('-')
    if (f.length < 7 || sep < 6) continue
    out.push({ mountPoint: unescape(f[4]!), optional: f.slice(6, sep) })
  }
  return out
}

export function readMountInfo(): MountEntry[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'))
}

/** Mount points at `path` or below it. */
export function mountsUnder(entries: readonly MountEntry[], path: string): MountEntry[] {
  return entries.filter((e) => e.mountPoint === path || e.mountPoint.startsWith(path + '/'))
}

/** True when the topmost mount at `path` is shared. */
export function isSharedMount(entries: readonly MountEntry[], path: string): boolean {
  const top = entries.filter((e) => e.mountPoint === path).at(-1)
  return top !== undefined && top.optional.some((o) => o.startsWith('shared:'))
}

/** Unmounts (lazily) every mount stacked at `path`; a path with no mount is fine. */
export function unmountAll(addon: MountAddon, path: string): void {
  for (let i = 0; i < 64; i++) {
    try {
      addon.umount(path, true)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EINVAL' || code === 'ENOENT') return // not a mount point (any more)
      throw err
    }
  }
}
