import { existsSync } from 'node:fs'
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { SandboxLimits } from '../../spec/pool-spec.ts'
import { sleep } from '../host/sleep.ts'

export const CGROUP_ROOT = '/sys/fs/cgroup'
/** v1 controllers a sandbox joins; a missing one is skipped (its limit is then not enforced). */
const V1_CONTROLLERS = ['memory', 'pids', 'cpu'] as const
const CPU_PERIOD_US = 100_000
const MIB = 1024 * 1024

/** The cgroup hierarchy of this host: unified (v2) or one mount per controller (v1). */
export type CgroupHost =
  | { readonly version: 2; readonly root: string }
  | { readonly version: 1; readonly root: string; readonly controllers: readonly string[] }

export function detectCgroupHost(root = CGROUP_ROOT): CgroupHost {
  if (existsSync(join(root, 'cgroup.controllers'))) return { version: 2, root }
  return { version: 1, root, controllers: V1_CONTROLLERS.filter((c) => existsSync(join(root, c, 'cgroup.procs'))) }
}

/** The parent cgroup(s) of every sandbox of one runtime dir, e.g. memory/infra-lab-<hash>. */
export function groupDirs(host: CgroupHost, group: string): string[] {
  return host.version === 2 ? [join(host.root, group)] : host.controllers.map((c) => join(host.root, c, group))
}

/** One cgroup directory per controller hierarchy for the sandbox `id`. */
export function sandboxCgroupDirs(host: CgroupHost, group: string, id: string): string[] {
  return groupDirs(host, group).map((d) => join(d, id))
}

export interface LimitWrite {
  readonly dir: string
  readonly file: string
  readonly value: string
  /** Written only when the file exists (e.g. swap accounting may be off). */
  readonly optional: boolean
}

/** The files to write, in order, to apply `limits` to a sandbox's cgroups. Pure. */
export function limitWrites(host: CgroupHost, dirs: readonly string[], limits: SandboxLimits): LimitWrite[] {
  const bytes = String(limits.memoryMb * MIB)
  const quotaUs = String(Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US)))
  const w = (dir: string | undefined, file: string, value: string, optional = false): LimitWrite[] =>
    dir === undefined ? [] : [{ dir, file, value, optional }]
  if (host.version === 2) {
    const dir = dirs[0]
    return [
      ...w(dir, 'memory.max', bytes),
      ...w(dir, 'memory.swap.max', '0', true),
      ...w(dir, 'pids.max', String(limits.pids)),
      ...w(dir, 'cpu.max', `${quotaUs} ${CPU_PERIOD_US}`),
    ]
  }
  const dirOf = (c: string) => dirs.find((d) => d.split('/').includes(c))
  return [
    ...w(dirOf('memory'), 'memory.limit_in_bytes', bytes),
    // memsw = memory: the sandbox gets no swap on top of its limit.
    ...w(dirOf('memory'), 'memory.memsw.limit_in_bytes', bytes, true),
    ...w(dirOf('pids'), 'pids.max', String(limits.pids)),
    ...w(dirOf('cpu'), 'cpu.cfs_period_us', String(CPU_PERIOD_US)),
    ...w(dirOf('cpu'), 'cpu.cfs_quota_us', quotaUs),
  ]
}

/** Creates the sandbox's cgroups with their limits; returns their directories. */
export async function createSandboxCgroups(host: CgroupHost, group: string, id: string, limits: SandboxLimits): Promise<string[]> {
  if (host.version === 2) await enableV2Controllers(host.root, group)
  const dirs = sandboxCgroupDirs(host, group, id)
  for (const dir of dirs) await mkdir(dir, { recursive: true })
  for (const l of limitWrites(host, dirs, limits)) {
    const path = join(l.dir, l.file)
    if (l.optional && !existsSync(path)) continue
    await writeFile(path, l.value)
  }
  return dirs
}

async function enableV2Controllers(root: string, group: string): Promise<void> {
  await mkdir(join(root, group), { recursive: true })
  for (const dir of [root, join(root, group)]) {
    for (const c of ['memory', 'pids', 'cpu']) {
      // Best effort: a controller the host does not delegate stays off, and its limit with it.
      await writeFile(join(dir, 'cgroup.subtree_control'), `+${c}`).catch(() => undefined)
    }
  }
}

/** Every process in any of `dirs` (host pids). */
export async function cgroupPids(dirs: readonly string[]): Promise<number[]> {
  const pids = new Set<number>()
  for (const dir of dirs) {
    let text = ''
    try {
      text = await readFile(join(dir, 'cgroup.procs'), 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n')) if (line) pids.add(Number(line))
  }
  return [...pids]
}

/**
 * Kills everything in the sandbox's cgroups, waits until they are empty and removes them.
 * Forks are stopped first (pids.max 0), so a fork bomb cannot outrun the loop.
 */
export async function destroyCgroups(dirs: readonly string[], timeoutMs = 10_000): Promise<void> {
  const present = dirs.filter((d) => existsSync(d))
  if (present.length === 0) return
  for (const dir of present) {
    await writeFile(join(dir, 'pids.max'), '0').catch(() => undefined)
    await writeFile(join(dir, 'cgroup.kill'), '1').catch(() => undefined) // v2, Linux >= 5.14
  }
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const pids = await cgroupPids(present)
    if (pids.length === 0) break
    if (Date.now() > deadline) throw new Error(`processes ${pids.slice(0, 8).join(', ')} survive in ${present[0]}`)
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    await sleep(10)
  }
  for (const dir of present) await rmdirRetry(dir, deadline)
}

/** rmdir of a cgroup can fail with EBUSY for a moment after its last process exits. */
async function rmdirRetry(dir: string, deadline: number): Promise<void> {
  for (;;) {
    try {
      await rmdir(dir)
      return
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return
      if (code !== 'EBUSY' || Date.now() > deadline) throw err
      await sleep(10)
    }
  }
}

/** Removes the per-runtime parent cgroups when no sandbox cgroup is left in them. */
export async function removeGroupDirs(host: CgroupHost, group: string): Promise<void> {
  for (const dir of groupDirs(host, group)) await rmdir(dir).catch(() => undefined)
}
