// Limits of the operations (exec, processes, files) as plain values: no zod here, so the agent
// shares them without a schema library. messages.ts builds the zod schemas from these; lite/
// checks the same. docs/protocol.md explains each.

/** Bytes a sender may have in flight on one (operation, fd) before the receiver grants more. */
export const STREAM_WINDOW_BYTES = 256 * 1024
/** Largest byte payload of one STREAM frame. */
export const MAX_STREAM_CHUNK_BYTES = 64 * 1024
/** Operation ids are chosen by the gateway: 1 to 2^32 - 1 (0 is never used). */
export const MAX_OP_ID = 0xffff_ffff
/** Operations one gateway connection may have open at once (each holds at most a window per fd). */
export const MAX_OPEN_OPS = 256
/**
 * Gateway connections an agent keeps at once (replicas each hold one to every agent); one more
 * closes the oldest, so a gateway that restarted always gets in.
 */
export const MAX_GATEWAY_CONNECTIONS = 8

/** File descriptors a STREAM or CREDIT frame names. */
export const StreamFd = { STDIN: 0, STDOUT: 1, STDERR: 2 } as const
export type StreamFd = (typeof StreamFd)[keyof typeof StreamFd]

/** Running processes per sandbox; one more is refused with `too_many_processes`. */
export const MAX_RUNNING_PROCESSES = 64
/** Ended processes kept for listing and output replay (oldest dropped first). */
export const MAX_ENDED_PROCESSES = 100
/** Output kept per process for replay (the newest bytes, stdout and stderr together). */
export const PROCESS_OUTPUT_BYTES = 1024 * 1024
/** Output kept for replay by all the sandbox's processes together (ended ones evicted first). */
export const SANDBOX_OUTPUT_BYTES = 8 * 1024 * 1024
/** SIGTERM, then SIGKILL after this long: a timeout, and what a process left behind. */
export const KILL_GRACE_MS = 2000
/** Longest exec timeout; 0 means none. */
export const MAX_EXEC_TIMEOUT_MS = 3600 * 1000

/** argv entries of an exec, and the bytes of its command (string, or all argv entries). */
export const MAX_EXEC_ARGS = 4096
export const MAX_EXEC_CMD_BYTES = 256 * 1024
/** A path (file operation or cwd): Linux's PATH_MAX, no NUL byte. */
export const MAX_PATH_BYTES = 4096
/** Entries of one directory listing; past it the listing says `truncated`. */
export const MAX_DIR_ENTRIES = 10_000
/** What a command looks like in a process listing: its first bytes. */
export const MAX_LISTED_CMD_BYTES = 4096

export const EXEC_SIGNALS = ['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP'] as const
export type ExecSignalName = (typeof EXEC_SIGNALS)[number]

/** The closed set of reasons an operation fails (each maps to one API error code). */
export const OP_ERROR_CODES = [
  'file_not_found', 'permission_denied', 'insufficient_storage', 'invalid_path', 'process_not_found', 'exec_failed',
  'too_many_processes', 'too_large', 'not_claimed', 'internal',
] as const
export type OpErrorCode = (typeof OP_ERROR_CODES)[number]

/** Process ids the agent hands out: `proc-` and random letters and digits. */
export const PROCESS_ID_RE = /^proc-[a-z0-9]{1,32}$/
