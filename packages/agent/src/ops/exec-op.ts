import { performance } from 'node:perf_hooks'
import type { Readable, Writable } from 'node:stream'
import type { ExecRequest } from '@infra-lab/protocol'
import { MAX_RUNNING_PROCESSES, StreamFd } from '@infra-lab/protocol/ops-limits'
import { log } from '../log.ts'
import { ExecHelper } from './exec-helper.ts'
import { execEnv, sandboxPath, type ClaimContext } from './exec-env.ts'
import type { OpContext } from './op-context.ts'
import { CANCELLED, InStream, OutStream } from './op-link.ts'
import { newProcessId, type ProcessEnd, type ProcessTable } from './process-table.ts'

export interface ExecSettings {
  readonly helperPath: string
  /** Runs a string command: `<shell> -c <cmd>`. */
  readonly shellPath: string
  /** The warm shell's environment (pty-session.ts warmShellEnv). */
  readonly baseEnv: Readonly<Record<string, string>>
}

/** Writes one chunk to a pipe; resolves once the pipe took it (a full pipe is not taken). */
export function writeTo(pipe: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pipe.destroyed || pipe.writableEnded) return reject(new Error('stdin is closed'))
    pipe.write(chunk, (err) => (err ? reject(err) : resolve()))
  })
}

/**
 * Runs one exec through the helper. Foreground: the output goes to the gateway as its credit
 * allows, and the process's pipe is not read while it has none (the process blocks, nothing is
 * dropped); `exec_exit` follows the last byte. Background: the output goes to the process
 * table's ring and its readers, never paused. Either way the process is in the table from
 * `started` on, and its timeout ends everything it started.
 */
export class ExecOps {
  private starting = 0

  constructor(private readonly table: ProcessTable, private readonly settings: ExecSettings) {}

  start(ctx: OpContext, m: ExecRequest, claim: ClaimContext): void {
    if (this.table.running + this.starting >= MAX_RUNNING_PROCESSES) {
      return ctx.error('too_many_processes', `at most ${MAX_RUNNING_PROCESSES} processes run at once in a sandbox`)
    }
    const cwd = m.cwd === undefined ? claim.home : sandboxPath(claim, m.cwd)
    const argv = typeof m.cmd === 'string' ? [this.settings.shellPath, '-c', m.cmd] : m.cmd
    let helper: ExecHelper
    try {
      helper = new ExecHelper({
        helperPath: this.settings.helperPath, argv, cwd, env: execEnv(this.settings.baseEnv, claim, m.env, cwd), tty: m.tty,
        stdinPipe: m.stdin || m.background,
      })
    } catch (err) {
      log('exec_helper_failed', { message: (err as Error).message })
      return ctx.error('internal', 'the exec helper cannot run')
    }
    this.starting++
    const startedAt = performance.now()
    let timedOut = false
    const timer = m.timeoutMs > 0 ? setTimeout(() => {
      timedOut = true
      helper.killTree()
    }, m.timeoutMs) : undefined
    const out = m.background ? undefined : [new OutStream(ctx.link, m.opId, StreamFd.STDOUT), new OutStream(ctx.link, m.opId, StreamFd.STDERR)] as const
    const stdin = m.stdin ? helper.stdin : undefined
    const input = stdin && new InStream(ctx, (chunk) => writeTo(stdin, chunk), () => stdin.end(), () => stdin.end())
    let cancelled = false
    let ended: ProcessEnd | undefined
    // exec_exit goes after the last byte, which may still wait for credit (unless cancelled).
    const answerExit = () => {
      if (ended && (cancelled || !out || out.every((o) => o.idle))) ctx.end({ type: 'exec_exit', opId: m.opId, ...ended })
    }
    const pipes: Readable[] = [helper.stdout, helper.stderr]
    ctx.on({
      stream: (fd, data) => fd === StreamFd.STDIN && input?.push(data),
      credit: (fd, bytes) => out?.[fd - 1]?.grant(bytes),
      cancel: () => {
        // The process runs on; its output is read and dropped from now on (kept in the ring).
        cancelled = true
        out?.forEach((o) => o.clear())
        pipes.forEach((p) => p.resume())
        input?.abort(CANCELLED)
        answerExit()
      },
    })

    let processId: string | undefined
    helper.once('failed', (stage, errno) => {
      this.starting--
      clearTimeout(timer)
      const why = stage === 'chdir' ? `cannot enter ${cwd}: ${errno}` : stage === 'exec' ? `cannot run ${argv[0]}: ${errno}` : `exec helper: ${stage} ${errno}`
      ctx.error(stage === 'chdir' || stage === 'exec' ? 'exec_failed' : 'internal', why)
    })
    helper.once('started', (pid) => {
      this.starting--
      const entry = this.table.add({
        processId: newProcessId(), pid, cmd: m.cmd, startedAt: new Date().toISOString(),
        stdin: m.background && !m.stdin ? helper.stdin : undefined, signal: (s) => helper.signal(s),
      })
      processId = entry.processId
      ctx.link.answer({ type: 'started', opId: m.opId, processId: entry.processId, pid })
      pipes.forEach((pipe, i) => {
        const o = out?.[i]
        if (o) o.onUnblocked = () => o.blocked || pipe.resume()
        pipe.on('data', (data: Buffer) => {
          this.table.append(entry, i + 1, data)
          if (!o || cancelled) return
          o.offer(data)
          if (o.blocked) pipe.pause()
        })
      })
    })
    helper.once('exit', (exitCode, signal) => {
      clearTimeout(timer)
      ended = { exitCode, signal, timedOut, durationMs: Math.round((performance.now() - startedAt) * 1000) / 1000 }
      const entry = processId === undefined ? undefined : this.table.get(processId)
      if (entry) this.table.finish(entry, ended)
      out?.forEach((o) => (o.onUnblocked = answerExit))
      answerExit()
    })
  }
}
