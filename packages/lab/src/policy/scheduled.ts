import type { PolicySpec } from '../spec/policy-schema.ts'
import { WEEKDAYS } from '../spec/time-schema.ts'
import type { PoolDecision } from './types.ts'

type ScheduledPolicy = Extract<PolicySpec, { kind: 'scheduled' }>

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))

/**
 * `scheduled`: cron-like targets by local time of day and weekday, looked up `leadS` ahead so
 * the pool is warm when a rule starts. A rule whose `to` is at or before its `from` runs past
 * midnight (its weekday is the day it starts). Where rules overlap the largest size wins;
 * outside every rule, `defaultSize`.
 */
export function decideScheduled(policy: ScheduledPolicy, _spec: unknown, _observed: unknown, now: number): PoolDecision {
  const local = now + (policy.leadS * 1000) + policy.utcOffsetMin * 60_000
  const dayIndex = Math.floor(local / 86_400_000)
  const minute = Math.floor((local - dayIndex * 86_400_000) / 60_000)
  const weekday = WEEKDAYS[(((dayIndex + 4) % 7) + 7) % 7]! // 1970-01-01 was a Thursday
  const yesterday = WEEKDAYS[(((dayIndex + 3) % 7) + 7) % 7]!
  let target = policy.defaultSize
  let matched: string | undefined
  for (const r of policy.rules) {
    const from = minutes(r.from)
    const to = minutes(r.to)
    const overnight = to <= from
    const hit = overnight
      ? (r.days.includes(weekday) && minute >= from) || (r.days.includes(yesterday) && minute < to)
      : r.days.includes(weekday) && minute >= from && minute < to
    if (hit && (matched === undefined || r.size > target)) {
      target = r.size
      matched = `${r.from}-${r.to}`
    }
  }
  return { target, why: matched ? `scheduled: ${weekday} ${matched} -> ${target}` : `scheduled: default ${target}` }
}
