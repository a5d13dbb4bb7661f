import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename } from 'node:path'
import { isDescendantOf } from '../drivers/host/peer.ts'
import { answerJson, type BenchHttp } from './exec-http.ts'

/**
 * Every sandbox's agent runs as `node … agent.mjs … --sandbox-id <id>` (local: under bwrap,
 * whose wrapper command lines hold the same words; docker: under the container's init). The
 * sandbox's own /proc shows only its own processes, so a command run in the session names its
 * sandbox; the host's /proc then has exactly one node process with that id that is not a child
 * of another (a helper the agent forks would be one).
 */
const LIST_CMDLINES = 'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$f"; echo; done 2>/dev/null'
const SANDBOX_ID_RE = /(\S*)\/agent\.mjs\b[^\n]*?--sandbox-id ([A-Za-z0-9._-]+)/

/**
 * The host pid of the agent of session `sessionId`'s sandbox (the gateway must run on this host),
 * and the agent's directory inside the sandbox (where its exec helper is).
 */
export async function findAgentPid(client: BenchHttp, sessionId: string): Promise<{ pid: number; sandboxId: string; agentDir: string }> {
  const r = answerJson<{ stdout: string }>(await client.json('POST', `/v1/sessions/${sessionId}/exec`, { cmd: LIST_CMDLINES }), 200, 'listing the sandbox\'s processes')
  const m = SANDBOX_ID_RE.exec(r.stdout)
  if (!m) throw new Error(`no agent command line in the sandbox of session ${sessionId}: ${JSON.stringify(r.stdout.slice(0, 300))}`)
  const [, agentDir, sandboxId] = m as unknown as [string, string, string]
  const nodes: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let argv: string[]
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')
    } catch {
      continue // exited meanwhile
    }
    const at = argv.indexOf('--sandbox-id')
    if (at < 0 || argv[at + 1] !== sandboxId || !argv.some((a) => a.endsWith('agent.mjs'))) continue
    if (basename(argv[0] ?? '').startsWith('node')) nodes.push(Number(name))
  }
  const top: number[] = []
  for (const pid of nodes) {
    let child = false
    for (const other of nodes) if (other !== pid && (await isDescendantOf(pid, other))) child = true
    if (!child) top.push(pid)
  }
  if (top.length !== 1) throw new Error(`expected one agent process of sandbox ${sandboxId} on this host, found ${top.length} (${nodes.join(', ') || 'none'})`)
  return { pid: top[0]!, sandboxId, agentDir }
}

export interface RssRise {
  /** VmRSS when the transfer started. */
  readonly beforeMiB: number
  /** Highest VmRSS during the transfer. */
  readonly peakMiB: number
  /** VmRSS when it had ended. */
  readonly afterMiB: number
  /** peak - before. */
  readonly riseMiB: number
  /** `hwm`: the kernel's high-water mark, reset at the start; `sampled`: VmRSS read every 50 ms (the reset was refused). */
  readonly method: 'hwm' | 'sampled'
}

const SAMPLE_MS = 50

/**
 * The peak resident set of a process over an interval. Writing 5 to /proc/<pid>/clear_refs
 * resets its VmHWM to the current VmRSS (Linux 4.0+; root may for any process), so the peak is
 * exact and no short spike falls between samples; sampling is the fallback.
 */
export class PeakRss {
  private readonly before: number
  private readonly reset: boolean
  private sampledPeak: number
  private readonly timer: NodeJS.Timeout

  constructor(private readonly pid: number) {
    this.before = statusKiB(pid, 'VmRSS') / 1024
    this.reset = tryReset(pid)
    this.sampledPeak = this.before
    this.timer = setInterval(() => {
      try {
        this.sampledPeak = Math.max(this.sampledPeak, statusKiB(pid, 'VmRSS') / 1024)
      } catch {
        clearInterval(this.timer) // the process is gone; end() says so
      }
    }, SAMPLE_MS)
  }

  end(): RssRise {
    this.stop()
    const after = statusKiB(this.pid, 'VmRSS') / 1024
    const peak = Math.max(this.reset ? statusKiB(this.pid, 'VmHWM') / 1024 : 0, this.sampledPeak, after)
    return { beforeMiB: this.before, peakMiB: peak, afterMiB: after, riseMiB: peak - this.before, method: this.reset ? 'hwm' : 'sampled' }
  }

  stop(): void {
    clearInterval(this.timer)
  }
}

function tryReset(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!m) throw new Error(`no ${field} for pid ${pid}`)
  return Number(m[1])
}

/** /proc reports CPU times in USER_HZ ticks, which Linux fixes at 100 on every common architecture. */
const USER_HZ = 100

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name start at field 3 (state); utime and stime are fields 14 and 15.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return (Number(f[14 - 3]) + Number(f[15 - 3])) / USER_HZ
}
