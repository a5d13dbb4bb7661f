/** What a command may touch of the outside world: injected so tests can run commands. */
export interface CliIo {
  readonly cwd: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream
}

/** A command's result: the process exit code. Only main.ts calls process.exit. */
export type ExitCode = number

export class UsageError extends Error {
  override readonly name = 'UsageError'
}
