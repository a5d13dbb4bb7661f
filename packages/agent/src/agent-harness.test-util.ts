// Test-only helpers: start the built agent bundle as a real process and talk to it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  FrameDecoder, FrameKind, agentMessageSchema, decodeSnapshot, encodeControl, encodeFrame,
  type AgentMessage, type GatewayMessage,
} from '@infra-lab/protocol'

const here = dirname(fileURLToPath(import.meta.url))
export const repoRoot = join(here, '../../..')
export const bundlePath = join(repoRoot, 'packages/agent/dist/agent.mjs')

function newestMtime(dir: string): number {
  return Math.max(...readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => statSync(join(e.parentPath, e.name)).mtimeMs))
}

/**
 * Runs `node scripts/build.mjs` when the agent bundle is missing or older than its sources.
 * The script builds the agent first, so a failure later in it (another package) is tolerated
 * as long as the agent bundle came out fresh.
 */
export function ensureBundle(): void {
  const sources = Math.max(newestMtime(here), newestMtime(join(here, '../native')), newestMtime(join(repoRoot, 'packages/protocol/src')))
  const fresh = () => existsSync(bundlePath) && statSync(bundlePath).mtimeMs >= sources
  if (fresh()) return
  const run = spawnSync(process.execPath, [join(repoRoot, 'scripts/build.mjs')], { cwd: repoRoot, encoding: 'utf8' })
  if (!fresh()) throw new Error(`agent bundle is stale and the build failed:\n${run.stderr}`)
}

export interface AgentProcess {
  readonly child: ChildProcess
  readonly dir: string
  readonly socketPath: string
  readonly stateDir: string
  stderr: string
  stop(): Promise<void>
}

/** The sandbox's environment, as the local driver gives it. */
export const SANDBOX_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', TERM: 'xterm-256color' }

/** `uid`: run the agent as this uid and gid (the test runs as root), owning its temporary dir. */
export function startAgent(sandboxId = 'sbx-test', nodeFlags: string[] = [], opts: { shell?: string; uid?: number } = {}): AgentProcess {
  const dir = mkdtempSync(join(tmpdir(), 'agent-it-'))
  if (opts.uid !== undefined) chownSync(dir, opts.uid, opts.uid)
  const socketPath = join(dir, 'agent.sock')
  const stateDir = join(dir, 'state')
  const shell = opts.shell === undefined ? [] : ['--shell', opts.shell]
  const child = spawn(
    process.execPath,
    [...nodeFlags, bundlePath, '--socket', socketPath, '--sandbox-id', sandboxId, '--state-dir', stateDir, ...shell],
    { cwd: '/', env: SANDBOX_ENV, stdio: ['ignore', 'ignore', 'pipe'], ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid }) },
  )
  const agent: AgentProcess = {
    child, dir, socketPath, stateDir, stderr: '',
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r))
        child.kill('SIGKILL')
        await gone
      }
      // The shell is in its own session: kill its group too if the agent left it behind.
      const shellPid = /"shellPid":(\d+)/.exec(agent.stderr)?.[1]
      if (shellPid) {
        try {
          process.kill(-Number(shellPid), 'SIGKILL')
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (agent.stderr += s))
  return agent
}

/** A gateway-side test client: records every message, output byte and snapshot. */
export class TestClient {
  readonly messages: AgentMessage[] = []
  readonly snapshots = new Map<number, Buffer>()
  output = Buffer.alloc(0)
  closed = false
  private readonly decoder = new FrameDecoder()
  private waiters: Array<() => void> = []

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.decoder.push(chunk)) {
        if (f.kind === FrameKind.DATA) this.output = Buffer.concat([this.output, f.payload])
        else if (f.kind === FrameKind.SNAPSHOT) {
          const { requestId, data } = decodeSnapshot(f.payload)
          this.snapshots.set(requestId, Buffer.from(data))
        } else this.messages.push(agentMessageSchema.parse(JSON.parse(f.payload.toString('utf8'))))
      }
      this.wake()
    })
    socket.on('close', () => {
      this.closed = true
      this.wake()
    })
    socket.on('error', () => {})
  }

  /** Connects, retrying every `retryMs` while the agent is still starting. */
  static async connect(socketPath: string, timeoutMs = 10_000, retryMs = 20): Promise<TestClient> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(socketPath, () => resolve(s))
          s.once('error', reject)
        })
        return new TestClient(socket)
      } catch (err) {
        if (Date.now() > deadline) throw err
        await new Promise((r) => setTimeout(r, retryMs))
      }
    }
  }

  send(message: GatewayMessage | Record<string, unknown>): void {
    this.socket.write(encodeControl(message))
  }

  input(text: string): void {
    this.socket.write(encodeFrame(FrameKind.DATA, text))
  }

  get text(): string {
    return this.output.toString('utf8')
  }

  /** Resolves once `test` returns a value other than undefined; rejects after the timeout. */
  waitFor<T>(what: string, test: () => T | undefined, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = test()
        if (value !== undefined) {
          clearTimeout(timer)
          this.waiters = this.waiters.filter((w) => w !== check)
          resolve(value)
        }
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check)
        reject(new Error(`timed out waiting for ${what}; output so far: ${JSON.stringify(this.text.slice(-500))}`))
      }, timeoutMs)
      this.waiters.push(check)
      check()
    })
  }

  message<T extends AgentMessage['type']>(type: T, from = 0): Promise<Extract<AgentMessage, { type: T }>> {
    return this.waitFor(`a ${type} message`, () =>
      this.messages.slice(from).find((m): m is Extract<AgentMessage, { type: T }> => m.type === type))
  }

  /** Waits for `re` in the output written after byte `from`. */
  outputMatching(re: RegExp, from = 0): Promise<RegExpExecArray> {
    return this.waitFor(`output matching ${re}`, () => re.exec(this.output.subarray(from).toString('utf8')) ?? undefined)
  }

  close(): void {
    this.socket.destroy()
  }

  private wake(): void {
    for (const w of [...this.waiters]) w()
  }
}
