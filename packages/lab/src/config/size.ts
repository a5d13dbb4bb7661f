import { z } from 'zod'

const UNIT_SHIFT: Readonly<Record<string, number>> = { '': 0, k: 10, m: 20, g: 30, t: 40 }
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?b)?)?$/i

/**
 * Parses a size: plain bytes (`1073741824`), or a number with a binary unit (`512M`, `1G`,
 * `2GiB`, `1.5g`; K, M, G, T are powers of 1024, with or without `iB`). `off` is 0.
 * Returns undefined for anything else; decimal units (`GB`) are refused as ambiguous.
 */
export function parseSizeBytes(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input >= 0 ? input : undefined
  const s = input.trim()
  if (s.toLowerCase() === 'off') return 0
  const m = SIZE_RE.exec(s)
  if (!m) return undefined
  const [, num, unit = '', suffix] = m
  if (suffix !== undefined && suffix.toLowerCase() !== 'ib') return undefined
  const bytes = Math.floor(Number(num) * 2 ** UNIT_SHIFT[unit.toLowerCase()]!)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

/** Formats bytes for humans with the largest binary unit that divides them (`1 GiB`, `40 MiB`). */
export function formatSizeBytes(bytes: number): string {
  for (const [unit, shift] of [['TiB', 40], ['GiB', 30], ['MiB', 20], ['KiB', 10]] as const) {
    if (bytes >= 2 ** shift && bytes % 2 ** shift === 0) return `${bytes / 2 ** shift} ${unit}`
  }
  return `${bytes} bytes`
}

/** A size option: a byte count or a size string; `min` applies unless the value is 0 (off). */
export function sizeBytesSchema(min: number) {
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    const bytes = parseSizeBytes(v)
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a size: write bytes, or 512M, 1G, 2GiB (binary units), or 0/off` })
      return z.NEVER
    }
    if (bytes !== 0 && bytes < min) {
      ctx.addIssue({ code: 'custom', message: `must be 0/off or at least ${formatSizeBytes(min)}` })
      return z.NEVER
    }
    return bytes
  })
}
