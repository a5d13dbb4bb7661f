import { z } from 'zod'
import { envMapSchema } from './limits.ts'
import {
  EXEC_SIGNALS, MAX_DIR_ENTRIES, MAX_ENDED_PROCESSES, MAX_EXEC_ARGS, MAX_EXEC_CMD_BYTES, MAX_EXEC_TIMEOUT_MS, MAX_OP_ID, MAX_PATH_BYTES,
  MAX_RUNNING_PROCESSES, OP_ERROR_CODES, PROCESS_ID_RE,
} from './ops-limits.ts'

// Operations: the gateway names each with an opId, the agent answers with that opId. Bytes of an
// operation travel in STREAM frames, paced by CREDIT frames (frame.ts, docs/protocol.md).

export const opIdSchema = z.number().int().min(1).max(MAX_OP_ID)
export const processIdSchema = z.string().regex(PROCESS_ID_RE)

const noNul = (s: string) => !s.includes('\0')
/** A path inside the sandbox: absolute, or relative to the user's home. */
export const opPathSchema = z.string().min(1)
  .refine(noNul, 'must not contain NUL bytes')
  .refine((s) => Buffer.byteLength(s) <= MAX_PATH_BYTES, `must be at most ${MAX_PATH_BYTES} bytes`)

export const execCmdSchema = z.union([
  z.string().min(1).refine(noNul, 'must not contain NUL bytes'),
  z.array(z.string().refine(noNul, 'must not contain NUL bytes')).min(1).max(MAX_EXEC_ARGS),
]).refine(
  (cmd) => (typeof cmd === 'string' ? Buffer.byteLength(cmd) : cmd.reduce((n, a) => n + Buffer.byteLength(a), 0)) <= MAX_EXEC_CMD_BYTES,
  `must be at most ${MAX_EXEC_CMD_BYTES} bytes`,
)

export const execSignalSchema = z.enum(EXEC_SIGNALS)
export const opErrorCodeSchema = z.enum(OP_ERROR_CODES)

// ---- gateway -> agent -------------------------------------------------------------------

/**
 * Starts a process. With `stdin` the gateway streams its bytes on fd 0, then an empty STREAM
 * frame (end); without, stdin is /dev/null (foreground) or a pipe left open (background).
 */
export const execRequestSchema = z.object({
  type: z.literal('exec'),
  opId: opIdSchema,
  cmd: execCmdSchema,
  cwd: opPathSchema.optional(),
  env: envMapSchema,
  stdin: z.boolean(),
  timeoutMs: z.number().int().min(0).max(MAX_EXEC_TIMEOUT_MS),
  background: z.boolean(),
  tty: z.boolean(),
})
export type ExecRequest = z.infer<typeof execRequestSchema>

export const listProcessesSchema = z.object({ type: z.literal('list_processes'), opId: opIdSchema })
export const processOutputSchema = z.object({ type: z.literal('process_output'), opId: opIdSchema, processId: processIdSchema, follow: z.boolean() })
/** The gateway streams the bytes on fd 0, then an empty STREAM frame; `close` closes stdin after them. */
export const processStdinSchema = z.object({ type: z.literal('process_stdin'), opId: opIdSchema, processId: processIdSchema, close: z.boolean() })
export const processSignalSchema = z.object({ type: z.literal('process_signal'), opId: opIdSchema, processId: processIdSchema, signal: execSignalSchema })
export const readPathSchema = z.object({ type: z.literal('read_path'), opId: opIdSchema, path: opPathSchema })
/** The gateway streams the file's bytes on fd 0, then an empty STREAM frame. */
export const writeFileSchema = z.object({ type: z.literal('write_file'), opId: opIdSchema, path: opPathSchema })
export const removePathSchema = z.object({ type: z.literal('remove_path'), opId: opIdSchema, path: opPathSchema, recursive: z.boolean() })
/** Stops an operation's streams (an exec's process runs on); the agent still ends the operation. */
export const cancelSchema = z.object({ type: z.literal('cancel'), opId: opIdSchema })

export const opRequestSchemas = [
  execRequestSchema, listProcessesSchema, processOutputSchema, processStdinSchema, processSignalSchema,
  readPathSchema, writeFileSchema, removePathSchema, cancelSchema,
] as const
export type OpRequest = z.infer<(typeof opRequestSchemas)[number]>

// ---- agent -> gateway -------------------------------------------------------------------

/** The exec's process runs; a foreground one's output follows on fds 1 and 2. */
export const startedSchema = z.object({ type: z.literal('started'), opId: opIdSchema, processId: processIdSchema, pid: z.number().int().min(1) })
/** Ends an exec operation, after all of its output. */
export const execExitSchema = z.object({
  type: z.literal('exec_exit'),
  opId: opIdSchema,
  exitCode: z.number().int().nullable(),
  signal: z.string().max(32).nullable(),
  timedOut: z.boolean(),
  durationMs: z.number().min(0),
})
/** Ends any operation. */
export const opErrorSchema = z.object({ type: z.literal('op_error'), opId: opIdSchema, code: opErrorCodeSchema, message: z.string().max(1024) })

export const processInfoSchema = z.object({
  processId: processIdSchema,
  pid: z.number().int().min(1),
  cmd: z.union([z.string(), z.array(z.string())]),
  startedAt: z.iso.datetime(),
  running: z.boolean(),
  exitCode: z.number().int().nullable(),
  signal: z.string().max(32).nullable(),
})
/** One process as the agent lists it and the API returns it. */
export type ProcessInfo = z.infer<typeof processInfoSchema>
export const processListSchema = z.object({
  type: z.literal('process_list'), opId: opIdSchema, processes: z.array(processInfoSchema).max(MAX_RUNNING_PROCESSES + MAX_ENDED_PROCESSES),
})

/** A file's size; its bytes follow on fd 1, then `done`. */
export const fileInfoSchema = z.object({ type: z.literal('file'), opId: opIdSchema, size: z.number().int().min(0) })
export const dirEntrySchema = z.object({
  name: z.string().min(1).max(1024),
  type: z.enum(['file', 'dir', 'symlink']),
  size: z.number().int().min(0),
  mode: z.string().regex(/^0[0-7]{3}$/),
  mtime: z.iso.datetime(),
})
export const dirListingSchema = z.object({ type: z.literal('dir'), opId: opIdSchema, entries: z.array(dirEntrySchema).max(MAX_DIR_ENTRIES), truncated: z.boolean() })
export const writtenSchema = z.object({ type: z.literal('written'), opId: opIdSchema, path: z.string().min(1).max(MAX_PATH_BYTES), size: z.number().int().min(0) })
/** Ends an operation that returns nothing more (stdin: the bytes written). */
export const doneSchema = z.object({ type: z.literal('done'), opId: opIdSchema, bytes: z.number().int().min(0).optional() })

export const opAnswerSchemas = [
  startedSchema, execExitSchema, opErrorSchema, processListSchema, fileInfoSchema, dirListingSchema, writtenSchema, doneSchema,
] as const
export type OpAnswer = z.infer<(typeof opAnswerSchemas)[number]>
export type OpAnswerType = OpAnswer['type']
export const OP_ANSWER_TYPES: ReadonlySet<string> = new Set<OpAnswerType>(opAnswerSchemas.map((schema) => schema.shape.type.value))
