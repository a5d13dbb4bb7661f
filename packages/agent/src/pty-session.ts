import { EventEmitter } from 'node:events'
import { constants, openSync, writeFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { spawn, type IPty } from 'node-pty'
import type { Claim, Exit } from '@infra-lab/protocol'
import { buildClaimScript } from './claim-script.ts'
import type { StateFiles } from './state-dir.ts'

export const INITIAL_COLS = 80
export const INITIAL_ROWS = 24
export const TERMINATE_GRACE_MS = 2000
/** The shell's oom_score_adj, inherited by all the user runs: the OOM killer takes these before the agent. */
export const USER_OOM_SCORE_ADJ = 1000
/**
 * Environment the warm shell never inherits: the agent's own runtime settings, and the task's
 * (on ECS its credentials endpoint, metadata URIs and region: the task's, not the user's).
 * NODE_EXTRA_CA_CERTS is the sandbox's, not the agent's: a network sandbox trusts the egress
 * proxy's CA through it, in every program the user runs.
 * A claim's variables of the same names are applied after this, in the user's shell.
 */
const AGENT_ONLY_ENV = /^(NODE_(?!EXTRA_CA_CERTS$)|INFRA_LAB_|npm_|AWS_|ECS_)/

export class ClaimError extends Error {
  override readonly name = 'ClaimError'
}

/** The warm shell's environment: the agent's minus agent-only variables, HOME=/tmp until the claim. */
export function warmShellEnv(agentEnv: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(agentEnv)) {
    if (value !== undefined && !AGENT_ONLY_ENV.test(name)) env[name] = value
  }
  env.HOME = '/tmp'
  return env
}

export interface PtySessionEvents {
  /** Shell output, only after the claim: what the warm shell printed before it is discarded. */
  output: [Buffer]
  exit: [Exit]
}

/**
 * The user's shell in a PTY, started warm: bash blocks in its rc file opening the claim FIFO.
 * Claiming writes the claim script into the FIFO; no process is created on that path.
 *
 * When the warm shell is root and the claim drops to the user's uid (`dropTo`), the claim script
 * goes to a second FIFO that only the user's shell reads (state-dir.ts), and the warm shell gets
 * nothing but the drop: no variable of the caller's is ever in a root process.
 */
export class PtySession extends EventEmitter<PtySessionEvents> {
  private readonly pty: IPty
  private claimed = false
  private terminating = false
  private exited = false
  private killTimer: NodeJS.Timeout | undefined
  /** FIFOs the warm shell opens, in its order; the claim writes one part into each. */
  private readonly fifos: readonly string[]
  /** Their write ends, opened at warm time as bash reaches each read end. */
  private readonly writers: Socket[] = []
  private fifoTimer: NodeJS.Timeout | undefined
  private onWriters: ((err?: Error) => void) | undefined
  private readonly waiting: Promise<void>

  constructor(private readonly files: StateFiles, shellPath: string, agentEnv: NodeJS.ProcessEnv) {
    super()
    this.fifos = files.userFifoPath ? [files.userFifoPath, files.fifoPath] : [files.fifoPath]
    this.waiting = new Promise<void>((resolve, reject) => {
      this.onWriters = (err) => {
        this.onWriters = undefined
        if (err) reject(err)
        else resolve()
      }
    })
    this.waiting.catch(() => undefined) // reported to whoever awaits whenWaiting()
    this.pty = spawn(shellPath, ['--noprofile', '--rcfile', files.rcPath, '-i'], {
      name: 'xterm-256color',
      cols: INITIAL_COLS,
      rows: INITIAL_ROWS,
      cwd: '/',
      env: warmShellEnv(agentEnv),
      encoding: null,
    })
    try {
      // Raising needs no privilege; the shell only reads its rc file until the claim, so nothing
      // it starts can have been forked before this.
      writeFileSync(`/proc/${this.pty.pid}/oom_score_adj`, String(USER_OOM_SCORE_ADJ))
    } catch {
      // No /proc here (a unit test on another OS): the ordering is lost, not the shell.
    }
    this.pty.onData((data) => {
      if (this.claimed) this.emit('output', data as unknown as Buffer)
    })
    this.pty.onExit(({ exitCode, signal }) => this.onExit(exitCode, signal))
    this.preopenFifo()
  }

  /**
   * Opens each FIFO's write end as soon as bash has opened its read end (an O_NONBLOCK open fails
   * with ENXIO until then), so the claim only writes to open pipes: no open() through the
   * thread pool on the claim path. bash then waits in read() until the claim script arrives.
   * Polled (a blocked open has no event to wait on): every millisecond at first, since the agent
   * says hello only after this, then less often for a shell that is slow to start.
   */
  private preopenFifo(attempt = 0): void {
    while (!this.exited && this.writers.length < this.fifos.length) {
      try {
        const fd = openSync(this.fifos[this.writers.length]!, constants.O_WRONLY | constants.O_NONBLOCK)
        const writer = new Socket({ fd, readable: false, writable: true })
        writer.on('error', () => undefined) // reported by the claim's write, if it happens
        this.writers.push(writer)
      } catch {
        this.fifoTimer = setTimeout(() => this.preopenFifo(attempt + 1), attempt < 200 ? 1 : attempt < 500 ? 10 : 50)
        return
      }
    }
    if (!this.exited) this.onWriters?.()
  }

  /**
   * Resolves once the warm shell can take a claim: it holds every claim FIFO open for reading,
   * and their write ends are open here. Rejects if the shell exits first. The agent says hello
   * only after this (main.ts), so a gateway never sees a sandbox that would refuse a claim.
   */
  whenWaiting(): Promise<void> {
    return this.waiting
  }

  get pid(): number {
    return this.pty.pid
  }

  /**
   * Applies a validated claim; resolves once every part is in its FIFO. `dropTo` (the warm
   * shell is root): the command that replaces it with the user's shell (user-workspace.ts).
   */
  async claim(claim: Claim, dropTo?: string): Promise<void> {
    if (this.claimed) throw new ClaimError('already claimed')
    if (this.exited) throw new ClaimError('the shell has exited')
    if ((dropTo !== undefined) !== (this.files.userFifoPath !== undefined)) {
      throw new ClaimError(dropTo ? 'this agent was not started to drop privileges' : 'this warm shell must drop to a user')
    }
    // Cannot happen through the agent's socket, which opens only once the shell waits.
    if (this.writers.length < this.fifos.length) throw new ClaimError('the warm shell is not waiting for a claim')
    this.claimed = true
    if (claim.cols !== undefined || claim.rows !== undefined) {
      this.resize(claim.cols ?? this.pty.cols, claim.rows ?? this.pty.rows)
    }
    // In the FIFOs' order: the user's part (env, secrets, identity) first, the drop last.
    const parts = dropTo === undefined ? [buildClaimScript(claim)] : [buildClaimScript(claim), `${dropTo}\n`]
    await Promise.all(parts.map((text, i) => writeAndClose(this.writers[i]!, text)))
  }

  /** Keyboard input; ignored before the claim and after the exit. */
  write(data: Buffer): void {
    if (this.claimed && !this.exited) this.pty.write(data as unknown as string)
  }

  resize(cols: number, rows: number): void {
    if (!this.exited) this.pty.resize(cols, rows)
  }

  pause(): void {
    if (!this.exited) this.pty.pause()
  }

  resume(): void {
    if (!this.exited) this.pty.resume()
  }

  /** SIGHUP to the shell's process group, SIGKILL after the grace period. */
  terminate(): void {
    if (this.exited || this.terminating) return
    this.terminating = true
    this.signalGroup('SIGHUP')
    this.killTimer = setTimeout(() => this.signalGroup('SIGKILL'), TERMINATE_GRACE_MS)
  }

  /** For agent shutdown: kill the shell's process group now. */
  kill(): void {
    if (!this.exited) this.signalGroup('SIGKILL')
  }

  private signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pty.pid, signal) // node-pty starts the shell with setsid: pgid = pid
    } catch {
      // already gone
    }
  }

  private onExit(exitCode: number, signal: number | undefined): void {
    this.exited = true
    clearTimeout(this.fifoTimer)
    this.onWriters?.(new ClaimError('the shell exited before it waited for a claim'))
    for (const writer of this.writers) writer.destroy()
    clearTimeout(this.killTimer)
    const bySignal = signal !== undefined && signal !== 0
    const reason = this.terminating ? 'terminated' : bySignal ? 'killed' : 'exited'
    this.emit('exit', { type: 'exit', code: bySignal ? null : exitCode, signal: bySignal ? signal : null, reason })
  }
}

/** Writes through libuv's pipe handling (no thread blocked if bash reads slowly), then closes. */
function writeAndClose(pipe: Socket, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      pipe.destroy()
      reject(new ClaimError(`writing the claim script failed (${(err as NodeJS.ErrnoException).code ?? 'error'})`))
    }
    pipe.removeAllListeners('error')
    pipe.once('error', fail)
    // a pipe destroyed while the write waits (the shell exited) calls back with an error, no event
    pipe.write(text, (err) => {
      if (err) return fail(err)
      pipe.destroy() // closing the write end gives bash its EOF
      resolve()
    })
  })
}
