/**
 * One JSON line per event on stderr. Callers pass only closed-set facts (ids, counts, codes):
 * never env values, secrets or terminal bytes.
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>

export function log(event: string, fields: LogFields = {}): void {
  process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), event, ...fields })}\n`)
}
