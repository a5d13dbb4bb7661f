import { z } from 'zod'
import { envMapSchema, userNameSchema } from '@infra-lab/protocol'
import { credentialsSchema, networkPolicySchema } from '../spec/network-policy.ts'
import { POOL_NAME_RE } from '../spec/pool-spec.ts'
import { ENDED_REASONS } from '../store/types.ts'
import { ApiError, type ErrorDetail } from './errors.ts'

export const LABEL_KEY_RE = /^[a-z0-9._/-]{1,63}$/
export const MAX_LABELS = 16
export const MAX_LABEL_VALUE_BYTES = 256
export const labelsSchema = z.record(
  z.string().regex(LABEL_KEY_RE, 'a label key is 1-63 of a-z 0-9 . _ / -'),
  z.string().refine((v) => Buffer.byteLength(v) <= MAX_LABEL_VALUE_BYTES, `a label value is at most ${MAX_LABEL_VALUE_BYTES} bytes`),
).refine((m) => Object.keys(m).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`)

export const createSessionBody = z.object({
  user: userNameSchema,
  pool: z.string().regex(POOL_NAME_RE, 'must match ^[a-z0-9][a-z0-9-]{0,31}$').optional(),
  env: envMapSchema.optional(),
  secrets: envMapSchema.optional(),
  /** Egress policy, bound at claim time (default: the pool's). */
  network: networkPolicySchema.optional(),
  /** Headers the egress proxy adds on HTTPS to these hosts; the values never enter the sandbox. */
  credentials: credentialsSchema.optional(),
  /** Maximum lifetime in seconds (ends with `max_lifetime`), within the server's `maxSessionTimeoutS`. */
  timeoutS: z.number().int().min(1).optional(),
  /** Seconds without activity before it ends with `idle_timeout`, within the server's `maxSessionTimeoutS`. */
  idleTimeoutS: z.number().int().min(1).optional(),
  /** At most 16; filter lists with `?label=k=v`. */
  labels: labelsSchema.optional(),
}).strict()
export type CreateSessionBody = z.infer<typeof createSessionBody>

/** `POST /v1/sessions/{id}/keepalive`: no body (or `{}`) only resets idleness. */
export const keepaliveBody = z.object({
  timeoutS: z.number().int().min(1).optional().describe("end with `max_lifetime` this many seconds from now, within the gateway's maxSessionTimeoutS from the session's creation"),
}).strict().optional()

export const sessionIdParams = z.object({ id: z.string().regex(/^ses-[a-z0-9]{1,64}$/, 'is not a session id') }).strict()
export const poolNameParams = z.object({ name: z.string().regex(POOL_NAME_RE, 'is not a pool name') }).strict()

/** `k=v`, repeatable: sessions carrying every such label. */
const labelFilter = z.string().regex(/^[a-z0-9._/-]{1,63}=/, 'is `key=value`').refine((s) => Buffer.byteLength(s) <= 64 + MAX_LABEL_VALUE_BYTES, 'is too long')
export const MAX_PAGE = 1000
export const listSessionsQuery = z.object({
  user: userNameSchema.optional(),
  state: z.enum(['starting', 'running', 'ended']).optional(),
  pool: z.string().regex(POOL_NAME_RE).optional(),
  label: z.union([labelFilter, z.array(labelFilter).max(MAX_LABELS)]).optional().describe('`key=value`; repeat for AND'),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
  cursor: z.string().max(200).optional().describe('`nextCursor` of the page before'),
}).strict()

export const terminalQuery = z.object({ token: z.string().min(1).max(256) }).strict()

// ---- responses (documented in docs/api.md and /openapi.json) ------------------------------

export const attachSchema = z.object({
  url: z.string().describe('WebSocket path relative to the gateway, e.g. /v1/sessions/ses-…/terminal'),
  token: z.string(),
  expiresAt: z.string().describe('ISO 8601'),
})

export const sessionSchema = z.object({
  id: z.string(),
  user: z.string(),
  pool: z.string(),
  state: z.enum(['starting', 'running', 'ended']),
  warm: z.boolean(),
  createdAt: z.string(),
  endedAt: z.string().optional(),
  endedReason: z.enum(ENDED_REASONS).optional(),
  endedBy: z.string().optional().describe("the name of the key that ended it, or `system`"),
  timings: z.record(z.string(), z.number()),
  labels: z.record(z.string(), z.string()),
  expiresAt: z.string().optional().describe('ISO 8601: when it ends with `max_lifetime`'),
  idleExpiresAt: z.string().optional().describe('ISO 8601: when it ends with `idle_timeout` if nothing happens before'),
})
export const sessionListSchema = z.object({
  sessions: z.array(sessionSchema),
  nextCursor: z.string().optional().describe('pass as `?cursor=` for the next page; absent on the last'),
})
export const createdSessionSchema = sessionSchema.extend({ attach: attachSchema })

export const poolSchema = z.object({
  name: z.string(),
  spec: z.record(z.string(), z.unknown()),
  status: z.object({
    ready: z.number(), starting: z.number(), claimed: z.number(), target: z.number(),
    lastError: z.string().optional(),
    coldStarting: z.number().describe('cold starts for claims that found nothing warm, until their claim takes them'),
    destroying: z.number().describe('being destroyed: retired, ended, or left by a failed start'),
    total: z.number().describe('every sandbox the pool owns: never below what runs on the host'),
    starts: z.object({
      count: z.number().describe('sandbox creates that finished since the gateway started'),
      recent: z.array(z.object({
        at: z.string().describe('ISO 8601: when the create was launched'),
        ms: z.number().describe('launch to ready: warm, or handed to the claim waiting for it'),
      })).describe('the newest finished creates (at most 32), oldest first'),
    }).describe("each create's own duration: a reader polling the pool sees every create once (the growth of count says how many of recent are new)"),
  }),
})

export const deniedEntrySchema = z.object({
  at: z.string().describe('ISO 8601'),
  host: z.string().optional().describe('the name asked for (CONNECT target, Host, SNI or DNS question), when there was one'),
  address: z.string().optional().describe('the address it resolved to, or the original destination'),
  port: z.number(),
  reason: z.string().describe('egress_none, not_allowed, denied_by_rule, always_denied, dns_failed, limit, ...'),
  via: z.enum(['http', 'connect', 'transparent', 'dns']),
})

export const sessionNetworkSchema = z.object({
  policy: networkPolicySchema,
  credentials: z.array(z.object({ host: z.string(), header: z.string() })).describe('hosts and header names only: values are never shown'),
  denied: z.array(deniedEntrySchema).describe('the last 100 denied attempts, oldest first'),
})

export const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.array(z.object({ field: z.string(), message: z.string(), limit: z.string().optional(), value: z.number().optional() })).optional(),
  }),
})

/** A route with a JSON body: its content type must say so (415), and the body is required. */
export function requireJsonBody(req: { readonly headers: { readonly 'content-type'?: string | undefined }; readonly body: unknown }): void {
  const type = req.headers['content-type']
  if (type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError('unsupported_media_type', `send the body as application/json, not ${type.split(';')[0]}`)
  }
  if (type === undefined || req.body === undefined) throw new ApiError('validation_failed', 'a JSON body is required', [{ field: 'body', message: 'required' }])
}

/** Validates at the edge; a failure is a 400 that names every bad field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, where: ValidatedPart): z.infer<T> {
  const r = schema.safeParse(value ?? {})
  if (r.success) return r.data
  throw validationError(r.error.issues, where)
}

export type ValidatedPart = 'body' | 'query' | 'params' | 'headers'

/** zod's issues as the API's `400 validation_failed`, one detail per bad field. */
export function validationError(issues: readonly z.core.$ZodIssue[], where: ValidatedPart): ApiError {
  const details: ErrorDetail[] = []
  for (const issue of issues) {
    const base = issue.path.map(String).join('.')
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) details.push({ field: base ? `${base}.${k}` : k, message: 'unknown field' })
    } else if (issue.code === 'invalid_key' && issue.issues[0]) {
      // a record key's own rule (env names) says more than zod's "Invalid key in record"
      details.push({ field: base || where, message: issue.issues[0].message })
    } else {
      details.push({ field: base || where, message: issue.message })
    }
  }
  const summary = details.map((d) => `${d.field}: ${d.message}`).join('; ')
  return new ApiError('validation_failed', `invalid ${where}: ${summary}`, details)
}
