import { readFile } from 'node:fs/promises'

const MAX_DEPTH = 32

/** The parent pid from /proc/<pid>/stat (the command name may hold spaces and parentheses). */
async function parentOf(pid: number): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8')
    const ppid = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1])
    return Number.isInteger(ppid) ? ppid : undefined
  } catch {
    return undefined
  }
}

/**
 * True when `pid` is `ancestor` or one of its descendants. A process cannot change its parent
 * chain except by becoming an orphan, and orphans in a sandbox are adopted by the sandbox's own
 * pid 1 (bwrap), which is itself a descendant: the chain cannot be forged from inside.
 */
export async function isDescendantOf(pid: number, ancestor: number): Promise<boolean> {
  let p: number | undefined = pid
  for (let i = 0; i < MAX_DEPTH && p !== undefined && p > 1; i++) {
    if (p === ancestor) return true
    p = await parentOf(p)
  }
  return false
}

/** True when a cgroup path of `pid` (any hierarchy) contains `needle`; the sandbox cannot move itself out of its cgroup. */
export async function cgroupMentions(pid: number, needle: string): Promise<boolean> {
  if (needle.length === 0) return false
  try {
    const text = await readFile(`/proc/${pid}/cgroup`, 'utf8')
    return text.split('\n').some((line) => line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1).includes(needle))
  } catch {
    return false
  }
}
