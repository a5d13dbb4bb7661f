import { randomBytes } from 'node:crypto'
import type { Writable } from 'node:stream'
import {
  MAX_ENDED_PROCESSES, MAX_LISTED_CMD_BYTES, MAX_RUNNING_PROCESSES, PROCESS_OUTPUT_BYTES, SANDBOX_OUTPUT_BYTES,
} from '@infra-lab/protocol/ops-limits'
import type { ProcessInfo } from '@infra-lab/protocol'
import { OutputRing } from './output-ring.ts'

export interface ProcessEnd {
  readonly exitCode: number | null
  readonly signal: string | null
  readonly timedOut: boolean
  readonly durationMs: number
}

/** A process an exec started, running or recently ended. */
export interface ProcessEntry {
  readonly processId: string
  readonly pid: number
  readonly cmd: string | string[]
  readonly startedAt: string
  readonly ring: OutputRing
  /** Readers of the output (process_output): woken on new output and at the end. */
  readonly followers: Set<() => void>
  /** The pipe to the process's stdin while it is open (a background process without given stdin). */
  stdin: Writable | undefined
  end: ProcessEnd | undefined
  /** Sends a signal to the process's main pid (through the exec helper, which alone reaps it). */
  signal(signal: NodeJS.Signals): void
}

export type { ProcessInfo }

export function newProcessId(): string {
  return `proc-${randomBytes(8).toString('hex')}`
}

/**
 * The sandbox's processes: at most MAX_RUNNING_PROCESSES running and MAX_ENDED_PROCESSES ended
 * (the oldest ended is forgotten first). Output kept for replay: PROCESS_OUTPUT_BYTES per
 * process, SANDBOX_OUTPUT_BYTES in all; past that, ended processes lose their oldest output
 * first, then the running process that holds the most.
 */
export class ProcessTable {
  private readonly procs = new Map<string, ProcessEntry>()
  private readonly ended: ProcessEntry[] = []
  private keptBytes = 0

  get running(): number {
    return this.procs.size - this.ended.length
  }

  get full(): boolean {
    return this.running >= MAX_RUNNING_PROCESSES
  }

  /** Bytes of output kept by all processes. */
  get outputBytes(): number {
    return this.keptBytes
  }

  add(entry: Omit<ProcessEntry, 'ring' | 'followers' | 'end' | 'cmd'> & { cmd: string | readonly string[] }): ProcessEntry {
    const full: ProcessEntry = { ...entry, cmd: listedCmd(entry.cmd), ring: new OutputRing(), followers: new Set(), end: undefined }
    this.procs.set(full.processId, full)
    return full
  }

  get(processId: string): ProcessEntry | undefined {
    return this.procs.get(processId)
  }

  list(): ProcessInfo[] {
    return [...this.procs.values()].map((p) => ({
      processId: p.processId, pid: p.pid, cmd: p.cmd, startedAt: p.startedAt, running: p.end === undefined,
      exitCode: p.end?.exitCode ?? null, signal: p.end?.signal ?? null,
    }))
  }

  append(entry: ProcessEntry, fd: number, data: Buffer): void {
    if (!this.procs.has(entry.processId)) return
    this.keptBytes += data.length - entry.ring.append(fd, data)
    if (entry.ring.bytes > PROCESS_OUTPUT_BYTES) this.keptBytes -= entry.ring.dropOldest(entry.ring.bytes - PROCESS_OUTPUT_BYTES)
    while (this.keptBytes > SANDBOX_OUTPUT_BYTES) {
      const victim = this.ended.find((p) => p.ring.bytes > 0) ?? this.largestRunning()
      this.keptBytes -= victim.ring.dropOldest(this.keptBytes - SANDBOX_OUTPUT_BYTES)
    }
    wake(entry)
  }

  finish(entry: ProcessEntry, end: ProcessEnd): void {
    entry.end = end
    entry.stdin = undefined
    this.ended.push(entry)
    wake(entry)
    while (this.ended.length > MAX_ENDED_PROCESSES) {
      const old = this.ended.shift()!
      this.procs.delete(old.processId)
      this.keptBytes -= old.ring.clear()
      wake(old) // its readers end: nothing of it is kept any more
    }
  }

  private largestRunning(): ProcessEntry {
    let best: ProcessEntry | undefined
    for (const p of this.procs.values()) if (!p.end && (!best || p.ring.bytes > best.ring.bytes)) best = p
    return best!
  }
}

function wake(entry: ProcessEntry): void {
  for (const f of [...entry.followers]) f()
}

/** The command as a listing shows it: its first MAX_LISTED_CMD_BYTES, whole arguments only. */
function listedCmd(cmd: string | readonly string[]): string | string[] {
  if (typeof cmd === 'string') return Buffer.byteLength(cmd) <= MAX_LISTED_CMD_BYTES ? cmd : Buffer.from(cmd).subarray(0, MAX_LISTED_CMD_BYTES).toString('utf8')
  const out: string[] = []
  let bytes = 0
  for (const arg of cmd) {
    bytes += Buffer.byteLength(arg)
    if (bytes > MAX_LISTED_CMD_BYTES) break
    out.push(arg)
  }
  return out
}
