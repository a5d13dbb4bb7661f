import { z } from 'zod'

const UNIT_S: Readonly<Record<string, number>> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }

/** Parses a duration: seconds (`3600`), or a number with s, m, h or d (`90m`, `12h`, `7d`). Undefined for anything else. */
export function parseDurationS(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input >= 0 ? input : undefined
  const m = /^(\d+)\s*([smhd]?)$/i.exec(input.trim())
  if (!m) return undefined
  const s = Number(m[1]) * UNIT_S[m[2]!.toLowerCase()]!
  return Number.isSafeInteger(s) ? s : undefined
}

/** A duration in seconds, given as a number or a string like `7d`. */
export function durationSSchema(min: number, max: number) {
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const s = parseDurationS(v)
    if (s === undefined) {
      ctx.addIssue({ code: 'custom', message: `must be seconds or a duration like 90m, 12h, 7d (got ${JSON.stringify(v)})` })
      return z.NEVER
    }
    if (s < min || s > max) {
      ctx.addIssue({ code: 'custom', message: `must be between ${min} s and ${max} s` })
      return z.NEVER
    }
    return s
  })
}
