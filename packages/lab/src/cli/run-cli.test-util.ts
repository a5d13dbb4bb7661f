import { PassThrough } from 'node:stream'
import { buildProgram } from './program.ts'

export interface CliRun {
  readonly code: number | undefined
  readonly stdout: string
  readonly stderr: string
  /** commander's code when parsing stopped (`commander.helpDisplayed`, `commander.invalidArgument`, …). */
  readonly error: string | undefined
}

/** Runs argv through the CLI's own program, as `infra-lab …` would, capturing what it prints and its exit code. */
export async function runCli(argv: readonly string[], io: { readonly cwd?: string; readonly env?: Record<string, string> } = {}): Promise<CliRun> {
  const out = new PassThrough()
  const err = new PassThrough()
  let stdout = ''
  let stderr = ''
  out.on('data', (d: Buffer) => (stdout += d.toString()))
  err.on('data', (d: Buffer) => (stderr += d.toString()))
  let code: number | undefined
  const program = buildProgram({ cwd: io.cwd ?? '/tmp', env: io.env ?? {}, stdout: out, stderr: err }, (c) => (code = c), new AbortController().signal)
  program.exitOverride()
  program.commands.forEach(function walk(c): void {
    c.exitOverride()
    c.commands.forEach(walk)
  })
  return program.parseAsync(['node', 'infra-lab', ...argv]).then(
    () => ({ code, stdout, stderr, error: undefined }),
    (e: { code?: string }) => ({ code, stdout, stderr, error: e.code }),
  )
}
