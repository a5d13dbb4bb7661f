/** Rows as aligned columns (two spaces apart, no trailing blanks): the header row first. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => `${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`).join('')
}

/** An ISO time as `2026-12-01 18:45` (UTC; with seconds: `18:45:07`), or `-` for none. */
export function shortTime(iso: string | undefined, seconds = false): string {
  return iso === undefined ? '-' : `${iso.slice(0, 10)} ${iso.slice(11, seconds ? 19 : 16)}`
}

/** A comma-separated flag value as a list (blanks dropped). */
export function commaList(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean)
}
