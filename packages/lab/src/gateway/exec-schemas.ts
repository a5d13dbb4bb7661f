import { z } from 'zod'
import {
  EXEC_SIGNALS, MAX_EXEC_ARGS, MAX_EXEC_CMD_BYTES, MAX_EXEC_TIMEOUT_MS, MAX_PATH_BYTES, PROCESS_ID_RE, envMapSchema,
} from '@infra-lab/protocol'
import { sessionIdParams } from './schemas.ts'

/** Default and largest `timeoutS` of an exec (the agent's own limits are the protocol's). */
export const DEFAULT_EXEC_TIMEOUT_S = 60
export const MAX_EXEC_TIMEOUT_S = MAX_EXEC_TIMEOUT_MS / 1000

const bytes = (s: string) => Buffer.byteLength(s, 'utf8')
const noNul = (s: string) => !s.includes('\0')
// the kernel would cut a path or an argument at a NUL: what runs would not be what was asked
const NUL_PROBLEM = 'must not contain NUL bytes'
const pathSchema = z.string().min(1).refine((s) => bytes(s) <= MAX_PATH_BYTES, `must be at most ${MAX_PATH_BYTES} bytes`).refine(noNul, NUL_PROBLEM)
const flag = z.enum(['1', '0', 'true', 'false']).transform((v) => v === '1' || v === 'true')

export const processIdParams = sessionIdParams.extend({
  processId: z.string().regex(PROCESS_ID_RE, 'is not a process id'),
}).strict()

export const execBody = z.object({
  cmd: z.union([
    z.string().min(1).refine(noNul, NUL_PROBLEM),
    z.array(z.string().refine(noNul, NUL_PROBLEM)).min(1).max(MAX_EXEC_ARGS),
  ]).refine((c) => (typeof c === 'string' ? bytes(c) : c.reduce((n, a) => n + bytes(a), 0)) <= MAX_EXEC_CMD_BYTES, `must be at most ${MAX_EXEC_CMD_BYTES} bytes in all`)
    .describe('a string runs with `bash -c`; an array is argv'),
  cwd: pathSchema.optional().describe("absolute, or relative to the user's home (default)"),
  env: envMapSchema.optional().describe("added to the session's env and secrets; the same rules as create's env"),
  stdin: z.string().optional().describe('written to stdin, which is then closed'),
  timeoutS: z.number().positive().max(MAX_EXEC_TIMEOUT_S).default(DEFAULT_EXEC_TIMEOUT_S),
  background: z.boolean().default(false),
  tty: z.boolean().default(false).describe("run in a fresh PTY: stdout carries the terminal's bytes, stderr stays empty"),
}).strict()
export type ExecBody = z.output<typeof execBody>

export const encodingQuery = z.object({
  encoding: z.enum(['utf8', 'base64']).default('utf8').describe('base64: both streams are base64 (for output that is not UTF-8)'),
}).strict()

export const execHeaders = z.looseObject({
  'idempotency-key': z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 visible ASCII characters').optional()
    .describe('a retry with the same key (same session, same body, within 10 minutes) returns the first call\'s result'),
})

export const outputQuery = encodingQuery.extend({
  follow: flag.default(false).describe('1: after what is kept, stream live output until the process exits (SSE)'),
}).strict()

export const stdinQuery = z.object({
  close: flag.default(false).describe('1: close stdin after this body'),
}).strict()

export const signalBody = z.object({ signal: z.enum(EXEC_SIGNALS) }).strict()

export const filesQuery = z.object({ path: pathSchema.describe("absolute, or relative to the user's home; resolved inside the sandbox") }).strict()
export const deleteFilesQuery = filesQuery.extend({ recursive: flag.default(false) }).strict()

// ---- responses ---------------------------------------------------------------------------

export const execExitSchema = z.object({
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable().describe('the signal that ended it (`SIGKILL`), or null'),
  timedOut: z.boolean(),
  truncated: z.boolean().describe('a stream passed 16 MiB: the rest was dropped (the process ran on)'),
  durationMs: z.number(),
})
export const execResultSchema = execExitSchema.extend({ stdout: z.string(), stderr: z.string() })
export const backgroundSchema = z.object({ processId: z.string(), pid: z.number().int() })
export const processSchema = z.object({
  processId: z.string(),
  pid: z.number().int(),
  cmd: z.union([z.string(), z.array(z.string())]),
  startedAt: z.string(),
  running: z.boolean(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
})
export const keptOutputSchema = z.object({ stdout: z.string(), stderr: z.string() })
export const stdinResultSchema = z.object({ bytes: z.number().int() })
export const dirSchema = z.object({
  entries: z.array(z.object({
    name: z.string(), type: z.enum(['file', 'dir', 'symlink']), size: z.number(), mode: z.string().describe('octal, e.g. "0644"'), mtime: z.string(),
  })),
  truncated: z.boolean().optional().describe('true when the directory had more entries than the agent lists'),
})
export const writtenSchema = z.object({ path: z.string().describe('as resolved in the sandbox'), size: z.number().int() })
