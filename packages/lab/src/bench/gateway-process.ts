import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { newSecretToken } from '../gateway/auth.ts'

export interface GatewayProcess {
  readonly url: string
  readonly apiKey: string
  readonly dataDir: string
  readonly pid: number
  /** SIGTERM, wait, then `--teardown` so nothing is left behind. */
  stop(): Promise<void>
}

/**
 * Starts `infra-lab gateway` as its own process (as a user would), on a free port with a
 * throw-away data dir, and waits until it prints its URL.
 */
export async function startGatewayProcess(opts: { cliPath: string; config: object; timeoutMs?: number }): Promise<GatewayProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'infra-lab-bench-'))
  const configFile = join(dataDir, 'config.json')
  writeFileSync(configFile, JSON.stringify(opts.config))
  const apiKey = `bench_${newSecretToken(18)}`
  const args = [opts.cliPath, 'gateway', '--config', configFile, '--data-dir', dataDir, '--port', '0']
  const env = { ...process.env, INFRA_LAB_API_KEY: apiKey, INFRA_LAB_LOG_LEVEL: 'warn' }
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`gateway did not start within ${opts.timeoutMs ?? 60_000} ms:\n${stderr}`)), opts.timeoutMs ?? 60_000)
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`gateway exited with ${code} before it listened:\n${stderr}`))
    })
  })
  return {
    url, apiKey, dataDir, pid: child.pid!,
    async stop() {
      await stopChild(child)
      const td = spawn(process.execPath, [opts.cliPath, 'gateway', '--config', configFile, '--data-dir', dataDir, '--teardown'], { env, stdio: 'ignore' })
      await new Promise((r) => td.on('exit', r))
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000)
    child.on('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    child.kill('SIGTERM')
  })
}
