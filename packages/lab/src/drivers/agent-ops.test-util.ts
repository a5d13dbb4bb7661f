// Test-only: the built agent as a real process (no sandbox around it), claimed, and the
// gateway's channel to it: the operations run real commands and touch real files.
import { chownSync, mkdirSync, readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { ensureBundle, startAgent, type AgentProcess } from '../../../agent/src/agent-harness.test-util.ts'
import type { ExecExit, ExecSpec, OutputChunk, OutputStream } from './agent-ops.ts'
import { AgentChannel } from './channel.ts'

export { ensureBundle }

export interface ClaimedAgent {
  readonly agent: AgentProcess
  readonly ch: AgentChannel
  /** The session's home (HOME of every command). */
  readonly home: string
  stop(): Promise<void>
}

async function connectWithRetry(path: string): Promise<Socket> {
  const end = Date.now() + 10_000
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(path, () => resolve(s))
        s.once('error', reject)
      })
    } catch (err) {
      if (Date.now() > end) throw err
      await new Promise((r) => setTimeout(r, 20))
    }
  }
}

/** Starts an agent (as `uid` when given), opens a channel and claims it for a session. */
export async function claimedAgent(opts: { uid?: number; env?: Record<string, string>; secrets?: Record<string, string> } = {}): Promise<ClaimedAgent> {
  const agent = startAgent(`sbx-ops-${process.pid}`, [], opts.uid === undefined ? {} : { uid: opts.uid })
  try {
    const home = join(agent.dir, 'home')
    mkdirSync(home)
    if (opts.uid !== undefined) chownSync(home, opts.uid, opts.uid)
    const ch = await AgentChannel.open(await connectWithRetry(agent.socketPath), 10_000)
    await ch.claim({ sessionId: 'ses-ops', user: 'alice', home, env: opts.env ?? {}, secrets: opts.secrets ?? {} }, 10_000)
    return { agent, ch, home, stop: async () => {
      ch.close()
      await agent.stop()
    } }
  } catch (err) {
    await agent.stop()
    throw err
  }
}

export const spec = (cmd: ExecSpec['cmd'], over: Partial<ExecSpec> = {}): ExecSpec => ({
  cmd, env: {}, timeoutMs: 20_000, background: false, tty: false, ...over,
})

/** Reads an output stream to its end: stdout and stderr as text, and the chunks in order. */
export async function collect(output: OutputStream): Promise<{ stdout: string; stderr: string; chunks: OutputChunk[] }> {
  const chunks: OutputChunk[] = []
  for await (const c of output) chunks.push(c as OutputChunk)
  const text = (s: string) => Buffer.concat(chunks.filter((c) => c.stream === s).map((c) => c.data)).toString('utf8')
  return { stdout: text('stdout'), stderr: text('stderr'), chunks }
}

/** Runs a foreground command to its end. */
export async function run(ch: AgentChannel, cmd: ExecSpec['cmd'], over: Partial<ExecSpec> = {}): Promise<ExecExit & { stdout: string; stderr: string; pid: number; processId: string }> {
  const h = await ch.ops.exec(spec(cmd, over))
  const out = await collect(h.output!)
  return { ...(await h.exit), stdout: out.stdout, stderr: out.stderr, pid: h.pid, processId: h.processId }
}

/** True while `pid` exists (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

export async function until(what: string, test: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
