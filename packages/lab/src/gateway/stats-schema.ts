import { z } from 'zod'
import { ENDED_REASONS } from '../store/types.ts'

/** The body of `GET /v1/stats` (docs/api.md, Stats): the dashboard's types come from it through the SDK. */
const poolStatsSchema = z.object({
  name: z.string(),
  series: z.object({
    t: z.array(z.number()).describe('sample times, ms since the epoch; the other arrays line up with it'),
    ready: z.array(z.number()), starting: z.array(z.number()), claimed: z.array(z.number()), target: z.array(z.number()),
  }),
  claims: z.object({ warm: z.number(), cold: z.number(), rejected: z.number(), warmHitRate: z.number().nullable() }),
  claimLatency: z.object({
    bucketsMs: z.array(z.number().nullable()).describe('upper bounds; the last (`null`) is everything above'),
    warm: z.array(z.number()), cold: z.array(z.number()),
  }),
  lastError: z.string().optional(),
})

const sessionStatsSchema = z.object({
  id: z.string(), user: z.string(), pool: z.string(), state: z.enum(['starting', 'running', 'ended']), warm: z.boolean(),
  createdAt: z.string(), ageS: z.number(), idleS: z.number().optional(),
})

const keyQuotaSchema = z.object({
  id: z.string(),
  name: z.string(),
  openSessions: z.number().describe('sessions not ended that this key created (what maxSessions counts)'),
  maxSessions: z.number().optional(),
  createsPerMin: z.number().optional(),
  createsLastMin: z.number().describe('sessions this key created in the last 60 s'),
})

export const quotaStatsSchema = z.object({
  maxSessionsPerUser: z.number().describe('sessions not ended one user may have (--max-sessions-per-user)'),
  keys: z.array(keyQuotaSchema).describe("admin: the keys in force (not revoked or expired), most open sessions first, at most 50; a scoped key: itself"),
  users: z.array(z.object({ user: z.string(), openSessions: z.number() })).describe('the users with the most sessions not ended, at most 10 (a scoped key: of its users and pools)'),
})

export const endedReasonsSchema = z.object({
  bucketMs: z.number(),
  t: z.array(z.number()).describe('bucket starts, ms since the epoch, oldest first; the last bucket is the current one'),
  counts: z.record(z.enum(ENDED_REASONS), z.array(z.number())).describe('sessions that ended for each reason in each bucket (every reason, lined up with t)'),
})

export const statsSchema = z.object({
  now: z.string(),
  intervalMs: z.number(),
  caller: z.object({ name: z.string().describe('`admin` or the scoped key\'s name'), admin: z.boolean() }),
  pools: z.array(poolStatsSchema),
  failures: z.array(z.object({ driver: z.string(), reason: z.string(), count: z.number() })),
  sessions: z.array(sessionStatsSchema),
  quotas: quotaStatsSchema,
  endedReasons: endedReasonsSchema,
})

export type QuotaStats = z.input<typeof quotaStatsSchema>
export type EndedReasonStats = z.input<typeof endedReasonsSchema>
