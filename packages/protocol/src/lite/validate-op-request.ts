// The operation requests of the zod-free validator (validate-gateway-message.ts): accepts and
// rejects exactly what `opRequestSchemas` (ops-messages.ts) do, and returns the same value.
import {
  EXEC_SIGNALS, MAX_EXEC_ARGS, MAX_EXEC_CMD_BYTES, MAX_EXEC_TIMEOUT_MS, MAX_OP_ID, MAX_PATH_BYTES, PROCESS_ID_RE,
} from '../ops-limits.ts'
import type { ExecRequest, OpRequest } from '../ops-messages.ts'
import { envMap, fail, int, string, type Fields } from './fields.ts'

const OP_REQUEST_TYPES: ReadonlySet<unknown> = new Set<OpRequest['type']>([
  'exec', 'list_processes', 'process_output', 'process_stdin', 'process_signal', 'read_path', 'write_file', 'remove_path', 'cancel',
])

export function isOpRequestType(type: unknown): boolean {
  return OP_REQUEST_TYPES.has(type)
}

export function opRequest(input: Fields): OpRequest {
  const opId = int(input, 'opId', 1, MAX_OP_ID)
  switch (input.type as OpRequest['type']) {
    case 'exec':
      return exec(input, opId)
    case 'list_processes':
      return { type: 'list_processes', opId }
    case 'process_output':
      return { type: 'process_output', opId, processId: processId(input), follow: bool(input, 'follow') }
    case 'process_stdin':
      return { type: 'process_stdin', opId, processId: processId(input), close: bool(input, 'close') }
    case 'process_signal': {
      const id = processId(input)
      const signal = input.signal
      if (!(EXEC_SIGNALS as readonly unknown[]).includes(signal)) fail('signal', `expected one of ${EXEC_SIGNALS.join(', ')}`)
      return { type: 'process_signal', opId, processId: id, signal: signal as (typeof EXEC_SIGNALS)[number] }
    }
    case 'read_path':
      return { type: 'read_path', opId, path: path(input, 'path') }
    case 'write_file':
      return { type: 'write_file', opId, path: path(input, 'path') }
    case 'remove_path':
      return { type: 'remove_path', opId, path: path(input, 'path'), recursive: bool(input, 'recursive') }
    case 'cancel':
      return { type: 'cancel', opId }
  }
}

function exec(input: Fields, opId: number): ExecRequest {
  const cmd = command(input.cmd)
  // Optional as zod has it: undefined is accepted, and a present key stays present (in shape order).
  const cwd = input.cwd !== undefined ? { cwd: path(input, 'cwd') } : 'cwd' in input ? { cwd: undefined } : {}
  return {
    type: 'exec', opId, cmd, ...cwd,
    env: envMap(input, 'env'),
    stdin: bool(input, 'stdin'),
    timeoutMs: int(input, 'timeoutMs', 0, MAX_EXEC_TIMEOUT_MS),
    background: bool(input, 'background'),
    tty: bool(input, 'tty'),
  }
}

/** A string (bash -c) or argv: no NUL anywhere, at most MAX_EXEC_CMD_BYTES in all. */
function command(cmd: unknown): string | string[] {
  let bytes = 0
  let out: string | string[]
  if (typeof cmd === 'string') {
    if (cmd.length === 0) fail('cmd', 'must not be empty')
    if (cmd.includes('\0')) fail('cmd', 'must not contain NUL bytes')
    bytes = Buffer.byteLength(cmd)
    out = cmd
  } else if (Array.isArray(cmd)) {
    if (cmd.length < 1 || cmd.length > MAX_EXEC_ARGS) fail('cmd', `must have 1 to ${MAX_EXEC_ARGS} entries`)
    out = []
    for (let i = 0; i < cmd.length; i++) {
      const arg: unknown = cmd[i]
      if (typeof arg !== 'string') fail(`cmd.${i}`, 'expected a string')
      if (arg.includes('\0')) fail(`cmd.${i}`, 'must not contain NUL bytes')
      bytes += Buffer.byteLength(arg)
      out.push(arg)
    }
  } else {
    return fail('cmd', 'expected a string or an array of strings')
  }
  if (bytes > MAX_EXEC_CMD_BYTES) fail('cmd', `must be at most ${MAX_EXEC_CMD_BYTES} bytes`)
  return out
}

function path(input: Fields, key: string): string {
  const value = string(input, key)
  if (value.length === 0) fail(key, 'must not be empty')
  if (value.includes('\0')) fail(key, 'must not contain NUL bytes')
  if (Buffer.byteLength(value) > MAX_PATH_BYTES) fail(key, `must be at most ${MAX_PATH_BYTES} bytes`)
  return value
}

function processId(input: Fields): string {
  const value = string(input, 'processId')
  if (!PROCESS_ID_RE.test(value)) fail('processId', `must match ${PROCESS_ID_RE.source}`)
  return value
}

function bool(input: Fields, key: string): boolean {
  const value = input[key]
  if (typeof value !== 'boolean') fail(key, 'expected true or false')
  return value
}
