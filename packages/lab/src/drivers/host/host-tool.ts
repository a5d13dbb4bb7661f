import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const TOOL_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin']
const TOOL_TIMEOUT_MS = 30_000
/** What a tool may print before it is cut off: ip, nft and nsenter print little (a ruleset listing at most). */
const MAX_OUTPUT_BYTES = 1024 * 1024

/** A host tool failed: its exit and what it printed on stderr. */
export class HostToolError extends Error {
  override readonly name = 'HostToolError'
  constructor(message: string, readonly stderr: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** The tool's path in the system directories, or undefined. */
export function findTool(tool: string): string | undefined {
  return TOOL_DIRS.map((d) => join(d, tool)).find((p) => existsSync(p))
}

/**
 * Runs a root tool (ip, nft, nsenter) with a fixed PATH and no other environment, feeds it
 * `stdin` (a batch or a ruleset), and resolves with its stdout; a non-zero exit rejects with its
 * stderr. `hint` says what to install when the tool is missing.
 */
export function runTool(tool: string, args: readonly string[], opts: { stdin?: string; hint: string }): Promise<string> {
  const path = findTool(tool)
  if (!path) return Promise.reject(new Error(`${tool} is not installed: ${opts.hint}`))
  return new Promise((resolve, reject) => {
    const p = spawn(path, args, { env: { PATH: TOOL_DIRS.join(':') }, stdio: ['pipe', 'pipe', 'pipe'], timeout: TOOL_TIMEOUT_MS })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let size = 0
    const keep = (into: Buffer[]) => (d: Buffer) => {
      size += d.length
      if (size <= MAX_OUTPUT_BYTES) into.push(d)
    }
    p.stdout.on('data', keep(out))
    p.stderr.on('data', keep(err))
    p.on('error', (e) => reject(new HostToolError(`${tool}: ${e.message}`, '', { cause: e })))
    p.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8').trim()
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'))
      else reject(new HostToolError(`${tool} ${args.join(' ')}: ${stderr || (signal ? `killed by ${signal}` : `exit ${code}`)}`, stderr))
    })
    p.stdin.on('error', () => undefined) // a tool that exits without reading: its exit code says why
    p.stdin.end(opts.stdin ?? '')
  })
}

export const IPROUTE_HINT = 'apt-get install iproute2'
export const NFT_HINT = 'apt-get install nftables'
export const NSENTER_HINT = 'apt-get install util-linux'
