import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { envMapSchema, userNameSchema } from '@infra-lab/protocol'
import { z } from 'zod'
import { MCP_MAX_STREAM_CHARS, OutputClip } from './content.ts'
import { ok, sessionIdInput, type ToolDeps } from './tool-kit.ts'
import { argumentError, toolError } from './tool-error.ts'

const MAX_EXEC_TIMEOUT_S = 3600

/** create_session, exec and end_session. */
export function registerSessionTools(server: McpServer, deps: ToolDeps): void {
  server.registerTool('create_session', {
    title: 'Create a session',
    description: 'Start an isolated Linux shell session for a user and return its sessionId, which every other tool takes. '
      + 'It comes from a warm pool, so it is ready in milliseconds. The session runs as an unprivileged user whose home '
      + 'directory (the working directory of exec and of relative paths) persists across that user\'s sessions. '
      + 'Call end_session when done; an idle session is ended by the gateway after a while.',
    inputSchema: {
      user: userNameSchema.optional().describe(deps.defaultUser
        ? `The user the session belongs to (default "${deps.defaultUser}"). Same user, same home directory.`
        : 'The user the session belongs to (required). Same user, same home directory.'),
      pool: z.string().min(1).max(32).optional().describe('Pool to take the sandbox from (default: the gateway\'s default pool).'),
      env: envMapSchema.optional().describe('Environment variables for every command of the session, e.g. {"DEBUG": "1"}.'),
    },
    outputSchema: {
      sessionId: z.string(),
      user: z.string(),
      pool: z.string(),
      state: z.enum(['starting', 'running', 'ended']),
      warm: z.boolean().describe('true when a warm sandbox was ready; false: one was started for this session'),
    },
    annotations: { destructiveHint: false, openWorldHint: false },
  }, async ({ user, pool, env }, { signal }) => {
    const who = user ?? deps.defaultUser
    if (!who) return argumentError('user is required: name the user the session is for (e.g. "alice"); the same user gets the same home directory')
    try {
      const s = await deps.lab.sessions.create({ user: who, ...(pool ? { pool } : {}), ...(env ? { env } : {}) }, { signal })
      return ok({ sessionId: s.id, user: s.info.user, pool: s.info.pool, state: s.info.state, warm: s.info.warm })
    } catch (err) {
      return toolError(err)
    }
  })

  server.registerTool('exec', {
    title: 'Run a command',
    description: 'Run a command in a session and wait for it to finish; returns exitCode, stdout and stderr. '
      + 'A string cmd runs with `bash -c` (pipes, redirects, &&, globs work); an array is run as argv without a shell. '
      + 'It runs as the session\'s user in the home directory (or cwd) with the session\'s environment. '
      + `Each stream returns at most ${MCP_MAX_STREAM_CHARS} characters (head and tail, truncated: true): `
      + 'redirect large output to a file and read it with read_file. A non-zero exitCode is a result, not an error. '
      + `The command, and everything it started, is killed after timeoutS seconds (default 60, at most ${MAX_EXEC_TIMEOUT_S}), with timedOut: true.`,
    inputSchema: {
      sessionId: sessionIdInput,
      cmd: z.union([z.string().min(1), z.array(z.string()).min(1)]).describe('e.g. "ls -la | head" or ["python3", "-c", "print(1)"]'),
      cwd: z.string().min(1).optional().describe('Working directory: absolute, or relative to the home directory (default: home).'),
      env: envMapSchema.optional().describe('Extra environment variables for this command only.'),
      stdin: z.string().optional().describe('Text written to the command\'s standard input (then closed).'),
      timeoutS: z.number().int().min(1).max(MAX_EXEC_TIMEOUT_S).optional().describe('Kill the command after this many seconds (default 60).'),
    },
    outputSchema: {
      exitCode: z.number().int().nullable().describe('null when a signal ended it'),
      signal: z.string().nullable().describe('e.g. "SIGKILL" when a signal ended it'),
      stdout: z.string(),
      stderr: z.string(),
      timedOut: z.boolean(),
      truncated: z.boolean().describe('some output was left out (see the marker inside stdout/stderr)'),
      durationMs: z.number(),
    },
    annotations: { destructiveHint: true, openWorldHint: false },
  }, async ({ sessionId, cmd, cwd, env, stdin, timeoutS }, { signal }) => {
    try {
      const s = await deps.lab.sessions.get(sessionId, { signal })
      // streamed, so that only the clipped output is ever held here, whatever the command prints
      const outClip = new OutputClip()
      const errClip = new OutputClip()
      const r = await s.exec(cmd, {
        ...(cwd ? { cwd } : {}), ...(env ? { env } : {}), ...(stdin !== undefined ? { stdin } : {}), ...(timeoutS ? { timeoutS } : {}),
        onStdout: (c) => outClip.push(c), onStderr: (c) => errClip.push(c), signal,
      })
      const stdout = outClip.result()
      const stderr = errClip.result()
      return ok({
        exitCode: r.exitCode, signal: r.signal, stdout: stdout.text, stderr: stderr.text, timedOut: r.timedOut,
        truncated: r.truncated || stdout.clipped || stderr.clipped, durationMs: r.durationMs,
      })
    } catch (err) {
      return toolError(err, { sessionId })
    }
  })

  server.registerTool('end_session', {
    title: 'End a session',
    description: 'End a session: every process in it stops and its sandbox is destroyed (the user\'s home directory is kept). '
      + 'Ending a session that has already ended succeeds.',
    inputSchema: { sessionId: sessionIdInput },
    outputSchema: { sessionId: z.string(), ended: z.literal(true) },
    annotations: { destructiveHint: true, idempotentHint: true, openWorldHint: false },
  }, async ({ sessionId }, { signal }) => {
    try {
      const s = await deps.lab.sessions.get(sessionId, { signal })
      await s.end({ signal })
      return ok({ sessionId, ended: true as const })
    } catch (err) {
      return toolError(err, { sessionId })
    }
  })
}
