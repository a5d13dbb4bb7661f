import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { constants } from 'node:os'
import type { Readable, Writable } from 'node:stream'
import { KILL_GRACE_MS } from '@infra-lab/protocol/ops-limits'

/** Set by scripts/build.mjs to the sha256 of the helper built with this bundle; absent when run from source. */
declare const LAB_EXEC_SHA256: string | undefined

export interface HelperSpawn {
  readonly helperPath: string
  readonly argv: readonly string[]
  /** Directory the helper changes to before it runs the command (as the user). */
  readonly cwd: string
  readonly env: Record<string, string>
  readonly tty: boolean
  /** A pipe to stdin; without it stdin is /dev/null. */
  readonly stdinPipe: boolean
}

export interface HelperEvents {
  started: [pid: number]
  /** The command never ran: the helper could not enter `cwd` (stage 'chdir') or run the program ('exec'), or failed itself. */
  failed: [stage: string, errno: string]
  /** Everything the command started is gone and its output pipes are closed. */
  exit: [exitCode: number | null, signal: string | null]
}

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n as number, name]))
let verified: string | undefined

/**
 * The agent's end of one lab-exec helper (packages/agent/native/lab-exec.c): spawns it with the
 * command's pipes on fds 0-2 and its status socket on fd 3, and turns the helper's lines into
 * events. `exit` comes only once the helper exited and the output pipes closed, so a reader that
 * waits for it has all the output.
 */
export class ExecHelper extends EventEmitter<HelperEvents> {
  readonly child: ChildProcess
  private status: { exitCode: number | null; signal: string | null } | undefined
  private failure: [string, string] | undefined
  private started = false
  private lines = ''

  constructor(spec: HelperSpawn) {
    super()
    verifyHelper(spec.helperPath)
    const args = ['-g', String(KILL_GRACE_MS), '-d', spec.cwd, ...(spec.tty ? ['-t'] : []), '--', ...spec.argv]
    this.child = spawn(spec.helperPath, args, {
      cwd: '/', env: spec.env, stdio: [spec.stdinPipe ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe'],
    })
    const control = this.child.stdio[3] as Readable & Writable
    control.setEncoding('utf8')
    control.on('data', (text: string) => this.onLines(text))
    control.on('error', () => undefined) // the helper's end closed: its exit says the rest
    this.child.stdin?.on('error', () => undefined) // EPIPE once the command closed its stdin
    this.child.on('error', (err) => this.fail('spawn', (err as NodeJS.ErrnoException).code ?? 'EIO'))
    // The helper alone holds fd 3: its end is the helper's. One that ends without having
    // started the command has pipes nobody reads, so waiting for them to close would wait forever.
    control.on('close', () => {
      if (!this.started) this.fail('helper', 'EXITED')
    })
    this.child.on('close', (code, signal) => {
      if (this.failure) return
      if (this.status) return this.emit('exit', this.status.exitCode, this.status.signal)
      // The helper itself died before it could say (killed from inside the sandbox).
      this.emit('exit', signal ? null : code, signal ?? null)
    })
  }

  get stdout(): Readable {
    return this.child.stdout!
  }

  get stderr(): Readable {
    return this.child.stderr!
  }

  get stdin(): Writable | undefined {
    return this.child.stdin ?? undefined
  }

  /** To the command's main process only, while it runs. */
  signal(signal: NodeJS.Signals): void {
    this.command(`signal ${constants.signals[signal]}`)
  }

  /** Ends everything the command started: SIGTERM, then SIGKILL after KILL_GRACE_MS. */
  killTree(): void {
    this.command('kill')
  }

  private command(line: string): void {
    const control = this.child.stdio[3] as Writable | null
    if (control && !control.destroyed) control.write(`${line}\n`)
  }

  /** The command never ran: reported once, and the helper's pipes are let go. */
  private fail(stage: string, errno: string): void {
    if (this.failure || this.started) return
    this.failure = [stage, errno]
    this.child.stdio.forEach((s) => s?.destroy())
    this.emit('failed', stage, errno)
  }

  private onLines(text: string): void {
    this.lines += text
    for (let nl = this.lines.indexOf('\n'); nl >= 0; nl = this.lines.indexOf('\n')) {
      const [word, a = '', b = ''] = this.lines.slice(0, nl).split(' ')
      this.lines = this.lines.slice(nl + 1)
      if (word === 'started' && !this.failure) {
        this.started = true
        this.emit('started', Number(a))
      } else if (word === 'failed') {
        this.fail(a, errnoName(Number(b)))
      } else if (word === 'exit') {
        const code = Number(a)
        const sig = Number(b)
        this.status = { exitCode: code >= 0 ? code : null, signal: sig > 0 ? (SIGNAL_NAMES.get(sig) ?? `SIG${sig}`) : null }
      }
    }
    if (this.lines.length > 1024) this.lines = '' // never a line this long from the helper
  }
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n as number, name]))

function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `E${n}`
}

/** The helper must be the one built with this bundle (checked once per path). */
function verifyHelper(path: string): void {
  if (typeof LAB_EXEC_SHA256 === 'undefined' || verified === path) return
  const actual = createHash('sha256').update(readFileSync(path)).digest('hex')
  if (actual !== LAB_EXEC_SHA256) throw new Error(`${path} is not the exec helper this agent was built with`)
  verified = path
}
