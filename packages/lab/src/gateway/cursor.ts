import { ApiError } from './errors.ts'

/**
 * Page cursors: the last record of a page, opaque to the caller (base64url JSON). A cursor that
 * does not decode is a 400 naming `cursor`, never a silent first page.
 */
export function encodeCursor(parts: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url')
}

export function decodeCursor<T extends readonly ('string' | 'number')[]>(cursor: string, kinds: T): { [K in keyof T]: T[K] extends 'string' ? string : number } {
  let parts: unknown
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    parts = undefined
  }
  if (!Array.isArray(parts) || parts.length !== kinds.length || parts.some((p, i) => typeof p !== kinds[i])) {
    throw new ApiError('validation_failed', 'invalid query: cursor: is not a cursor this list returned', [{ field: 'cursor', message: 'is not a cursor this list returned' }])
  }
  return parts as never
}
