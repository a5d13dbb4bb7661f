import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import WebSocket from 'ws'
import { LabClient, type Attach } from '../src/client/client.ts'
import { findRepoRoot } from '../src/paths.ts'

export const CLI = join(findRepoRoot(), 'packages/lab/dist/cli.mjs')
export const KEY = 'integration-key-0123456789'

export interface RunningGateway {
  readonly child: ChildProcess
  readonly url: string
  readonly client: LabClient
  stderr(): string
}

/** Starts `infra-lab gateway` as a real process on a free loopback port. */
export async function runGateway(dataDir: string, config: object, env: Record<string, string> = {}): Promise<RunningGateway> {
  const configFile = join(dataDir, 'config.json')
  writeFileSync(configFile, JSON.stringify(config))
  const child = spawn(process.execPath, [CLI, 'gateway', '--config', configFile, '--data-dir', dataDir, '--port', '0'], {
    env: { ...process.env, INFRA_LAB_API_KEY: KEY, INFRA_LAB_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const t = setTimeout(() => reject(new Error(`gateway did not start:\n${err}`)), 30_000)
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(t)
        resolve(m[1]!)
      }
    })
    child.on('exit', (code) => {
      clearTimeout(t)
      reject(new Error(`gateway exited with ${code}:\n${err}`))
    })
  })
  return { child, url, client: new LabClient(url, KEY), stderr: () => err }
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    c.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

/** A terminal connection that collects output and exit messages. */
export class Term {
  output = ''
  exit: { code: number | null; reason: string } | undefined
  closeCode: number | undefined
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer, bin: boolean) => {
      if (bin) this.output += d.toString('utf8')
      else {
        const m = JSON.parse(d.toString('utf8'))
        if (m.type === 'exit') this.exit = m
      }
    })
    ws.on('close', (c) => (this.closeCode = c))
  }

  /** Listeners go on before the socket opens: the scrollback may arrive with the upgrade. */
  static async open(client: LabClient, attach: Attach): Promise<Term> {
    const ws = client.openTerminal(attach)
    const term = new Term(ws)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return term
  }

  type(s: string): void {
    this.ws.send(Buffer.from(s), { binary: true })
  }

  async waitFor(pred: (t: Term) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs
    while (!pred(this)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; output so far:\n${this.output.slice(-2000)}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  close(): void {
    this.ws.terminate()
  }
}
