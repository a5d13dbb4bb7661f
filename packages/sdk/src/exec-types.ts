// The shapes of the command routes (POST /v1/sessions/{id}/exec and the processes routes).

export type ExecSignal = 'SIGTERM' | 'SIGKILL' | 'SIGINT' | 'SIGHUP'

/** How a command ended, as the foreground answer and the stream's `exit` event carry it. */
export interface ExecExit {
  /** The exit status, or null when a signal ended it. */
  readonly exitCode: number | null
  /** The signal's name (`SIGKILL`), or null. */
  readonly signal: string | null
  readonly timedOut: boolean
  readonly truncated: boolean
  readonly durationMs: number
}

export interface ExecResult extends ExecExit {
  readonly stdout: string
  readonly stderr: string
}

export interface ExecRequest {
  readonly cmd: string | readonly string[]
  readonly cwd?: string
  readonly env?: Readonly<Record<string, string>>
  readonly stdin?: string
  readonly timeoutS?: number
  readonly background?: boolean
  readonly tty?: boolean
}

export interface SpawnedProcess {
  readonly processId: string
  readonly pid: number
}

export interface ProcessInfo {
  readonly processId: string
  readonly pid: number
  readonly cmd: string | string[]
  readonly startedAt: string
  readonly running: boolean
  readonly exitCode: number | null
  readonly signal: string | null
}

export interface DirEntry {
  readonly name: string
  readonly type: 'file' | 'dir' | 'symlink'
  readonly size: number
  readonly mode: string
  readonly mtime: string
}
