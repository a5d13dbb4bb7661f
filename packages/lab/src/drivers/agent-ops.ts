import type { Readable } from 'node:stream'
import type { ProcessInfo } from '@infra-lab/protocol'

/**
 * What the gateway can ask a claimed sandbox's agent to do besides the terminal: run commands and
 * move files, inside the sandbox, as the session's user. `AgentChannel.ops` implements it over the
 * multiplexed gateway <-> agent protocol (one flow-controlled stream per operation), so a slow
 * reader of one operation never stalls the terminal or another operation (docs/protocol.md).
 */
export interface AgentOps {
  /** Starts a process; rejects with AgentOpError when it cannot start (bad cwd, no such program, too many). */
  exec(spec: ExecSpec): Promise<ExecHandle>
  /** Processes of this session, running and recently ended (background and foreground). */
  listProcesses(): Promise<ProcessInfo[]>
  /** Output of a process: what the agent kept (replayed first), then live output when `follow`. */
  processOutput(processId: string, follow: boolean): Promise<OutputStream>
  /** Pipes `body` into the process's stdin; resolves with the byte count once written. */
  writeStdin(processId: string, body: Readable, close?: boolean): Promise<{ bytes: number }>
  signalProcess(processId: string, signal: ExecSignal): Promise<void>
  /** A file's bytes (streamed), or a directory's entries. */
  readPath(path: string): Promise<ReadResult>
  /** Streams `body` to a temporary file next to `path`, then renames it; parents are created. */
  writeFile(path: string, body: Readable, maxBytes: number): Promise<{ path: string; size: number }>
  removePath(path: string, recursive: boolean): Promise<void>
}

export type ExecSignal = 'SIGTERM' | 'SIGKILL' | 'SIGINT' | 'SIGHUP'

export interface ExecSpec {
  /** A string runs with `bash -c`; an array is argv. */
  readonly cmd: string | readonly string[]
  /** Absolute, or relative to the user's home; default the home. */
  readonly cwd?: string
  /** Added to the session's env and secrets (validated like create's env). */
  readonly env: Readonly<Record<string, string>>
  /** Written to stdin, which is then closed; without it stdin is /dev/null (foreground) or open (background). */
  readonly stdin?: Buffer
  /** 0: no limit. On expiry every process the exec started is sent SIGTERM, then SIGKILL 2 s later. */
  readonly timeoutMs: number
  readonly background: boolean
  /** Run in a fresh PTY (stdout carries the terminal's bytes, stderr stays empty). */
  readonly tty: boolean
}

export interface ExecHandle {
  readonly processId: string
  readonly pid: number
  /** Foreground only: the output in order, flow-controlled (the process is paused while unread). */
  readonly output: OutputStream | undefined
  /** Resolves when the process has exited (and, foreground, everything it started is gone). */
  readonly exit: Promise<ExecExit>
}

export interface ExecExit {
  readonly exitCode: number | null
  /** Signal name (`SIGKILL`), or null when it exited by itself. */
  readonly signal: string | null
  readonly timedOut: boolean
  readonly durationMs: number
}

export interface OutputChunk {
  readonly stream: 'stdout' | 'stderr'
  readonly data: Buffer
}

/**
 * Object-mode Readable of OutputChunk. Reading grants the agent credit; a consumer that stops
 * reading stops the sender after one window (foreground: the process blocks on its pipe).
 * Ends when the output ends; destroying it cancels the stream (not the process).
 */
export type OutputStream = Readable

export type { ProcessInfo }

export interface DirEntry {
  readonly name: string
  readonly type: 'file' | 'dir' | 'symlink'
  readonly size: number
  /** Octal permission bits, e.g. "0644". */
  readonly mode: string
  /** ISO 8601. */
  readonly mtime: string
}

export type ReadResult =
  | { readonly kind: 'file'; readonly size: number; readonly data: Readable }
  | { readonly kind: 'dir'; readonly entries: readonly DirEntry[]; readonly truncated: boolean }

/** Closed set: each maps to one API error code (gateway/errors.ts). */
export type AgentOpErrorCode =
  | 'file_not_found'
  | 'permission_denied'
  | 'insufficient_storage'
  | 'invalid_path' // e.g. a directory where a file is needed, or a file where a directory is
  | 'process_not_found'
  | 'exec_failed' // cannot start: no such program or cwd
  | 'too_many_processes'
  | 'too_large' // an upload beyond maxBytes
  | 'not_claimed' // the sandbox has no session (yet, or any more)
  | 'internal'

export class AgentOpError extends Error {
  override readonly name = 'AgentOpError'
  constructor(readonly code: AgentOpErrorCode, message: string) {
    super(message)
  }
}
