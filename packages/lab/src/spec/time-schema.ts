import { z } from 'zod'

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const
export type Weekday = (typeof WEEKDAYS)[number]

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'must be HH:MM (00:00 to 24:00)')

/** One line of a schedule: `size` sandboxes from `from` to `to` (local time) on `days`. */
export const scheduleRuleSchema = z.object({
  days: z.array(z.enum(WEEKDAYS)).min(1).default([...WEEKDAYS]),
  from: hhmm,
  /** End of the rule; at or before `from` means it runs past midnight into the next day. */
  to: hhmm,
  size: z.number().int().min(0).max(10_000),
}).strict()

export const scheduledPolicySchema = z.object({
  kind: z.literal('scheduled'),
  /** Size outside every rule. */
  defaultSize: z.number().int().min(0).max(10_000),
  /** Where several rules match, the largest size wins. */
  rules: z.array(scheduleRuleSchema).max(200).default([]),
  /** Local time = UTC + this offset (minutes). */
  utcOffsetMin: z.number().int().min(-720).max(840).default(0),
  /** Look this far ahead, so a pool is warm when a rule starts (e.g. the refill time). */
  leadS: z.number().int().min(0).max(86_400).default(0),
}).strict()

export const predictivePolicySchema = z.object({
  kind: z.literal('predictive'),
  /** Largest acceptable probability that a claim finds no ready sandbox (Erlang B). */
  targetMissRate: z.number().gt(0).lt(1),
  /** Window over which the current claim rate is observed, in seconds. */
  windowS: z.number().int().min(10).max(86_400).default(300),
  /** Weight of the same hour yesterday; the same hour last week gets 1 - this. */
  yesterdayWeight: z.number().min(0).max(1).default(0.5),
  /** Never forecast less than the rate observed now (a surprise peak is not ignored). */
  floorAtObserved: z.boolean().default(true),
  /**
   * The length of the policy's day (s): its history is kept in 24 buckets a day and read at
   * the same moment one day and seven days earlier. Below 86400 the calendar is compressed,
   * for replays of a time-compressed trace and for tests.
   */
  dayS: z.number().positive().max(86_400).default(86_400),
}).strict()
