import { z } from 'zod'
import { envMapSchema, userNameSchema } from './limits.ts'
import { opAnswerSchemas, opRequestSchemas } from './ops-messages.ts'

/** Why a shell or a session ended. A closed set: it is used as a metric label. */
export const exitReasonSchema = z.enum([
  'exited', // the shell exited by itself
  'terminated', // the gateway asked the agent to end the shell
  'killed', // the shell was killed by a signal
  'agent_error', // the agent failed
])
export type ExitReason = z.infer<typeof exitReasonSchema>

// ---- agent -> gateway -------------------------------------------------------------------

export const helloSchema = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  sandboxId: z.string().min(1).max(128),
  agentVersion: z.string(),
  pid: z.number().int(),
  state: z.enum(['warm', 'claimed', 'exited']),
  sessionId: z.string().optional(),
  /** Milliseconds since the agent process started, when it said hello. */
  uptimeMs: z.number(),
})
export type Hello = z.infer<typeof helloSchema>

export const readySchema = z.object({
  type: z.literal('ready'),
  sessionId: z.string(),
  /** Time the agent spent applying the claim, in milliseconds. */
  applyMs: z.number(),
})
export type Ready = z.infer<typeof readySchema>

export const exitSchema = z.object({
  type: z.literal('exit'),
  code: z.number().int().nullable(),
  signal: z.number().int().nullable(),
  reason: exitReasonSchema,
})
export type Exit = z.infer<typeof exitSchema>

export const agentErrorSchema = z.object({
  type: z.literal('error'),
  code: z.enum(['bad_message', 'already_claimed', 'not_claimed', 'claim_failed', 'internal']),
  message: z.string(),
})
export type AgentError = z.infer<typeof agentErrorSchema>

export const pongSchema = z.object({ type: z.literal('pong'), id: z.number().int() })

export const agentMessageSchema = z.discriminatedUnion('type', [
  helloSchema,
  readySchema,
  exitSchema,
  agentErrorSchema,
  pongSchema,
  ...opAnswerSchemas,
])
export type AgentMessage = z.infer<typeof agentMessageSchema>

// ---- gateway -> agent -------------------------------------------------------------------

export const claimSchema = z.object({
  type: z.literal('claim'),
  sessionId: z.string().min(1).max(128),
  user: userNameSchema,
  /** Path of the user's workspace inside the sandbox; becomes HOME and the working directory. */
  home: z.string().startsWith('/'),
  env: envMapSchema,
  /** Secrets reach the shell's environment only: the agent never logs or writes them. */
  secrets: envMapSchema,
  cols: z.number().int().min(1).max(1000).optional(),
  rows: z.number().int().min(1).max(1000).optional(),
})
export type Claim = z.infer<typeof claimSchema>

export const resizeSchema = z.object({
  type: z.literal('resize'),
  cols: z.number().int().min(1).max(1000),
  rows: z.number().int().min(1).max(1000),
})
export type Resize = z.infer<typeof resizeSchema>

/** Ask for the scrollback; the agent answers with one SNAPSHOT frame carrying `requestId`. */
export const snapshotRequestSchema = z.object({ type: z.literal('snapshot'), requestId: z.number().int().min(0) })
export const terminateSchema = z.object({ type: z.literal('terminate') })
export const pingSchema = z.object({ type: z.literal('ping'), id: z.number().int() })

export const gatewayMessageSchema = z.discriminatedUnion('type', [
  claimSchema,
  resizeSchema,
  snapshotRequestSchema,
  terminateSchema,
  pingSchema,
  ...opRequestSchemas,
])
export type GatewayMessage = z.infer<typeof gatewayMessageSchema>
