import { readFile } from 'node:fs/promises'

/** What /proc/<pid>/stat says about a process: its state letter and start time (clock ticks after boot). */
export interface ProcStat {
  readonly state: string
  readonly startTime: number
}

/** Parses /proc/<pid>/stat text; the command name may contain spaces and parentheses. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')')
  if (close < 0) return undefined
  // Fields after the name start at field 3 (state); starttime is field 22.
  const fields = text.slice(close + 2).split(' ')
  const state = fields[0]
  const startTime = Number(fields[22 - 3])
  if (!state || !Number.isSafeInteger(startTime)) return undefined
  return { state, startTime }
}

export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

/**
 * True when `pid` runs and is the process started at `startTime` (not a reused pid). A zombie
 * counts as dead: once the gateway that spawned it is gone, nobody may ever reap it.
 */
export async function isSameProcessAlive(pid: number, startTime: number): Promise<boolean> {
  const stat = await readProcStat(pid)
  return stat !== undefined && stat.startTime === startTime && stat.state !== 'Z' && stat.state !== 'X'
}

/** Sums the `Pss:` lines (kB) of smaps_rollup texts, in bytes. */
export function parsePssBytes(smapsRollup: string): number {
  const m = /^Pss:\s+(\d+) kB$/m.exec(smapsRollup)
  return m ? Number(m[1]) * 1024 : 0
}

/** Proportional set size of a group of processes, in bytes (processes that are gone count 0). */
export async function pssBytesOf(pids: readonly number[]): Promise<number> {
  let total = 0
  for (const pid of pids) {
    try {
      total += parsePssBytes(await readFile(`/proc/${pid}/smaps_rollup`, 'utf8'))
    } catch {
      // exited meanwhile
    }
  }
  return total
}
