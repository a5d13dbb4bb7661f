import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex')
}

/** Compares in constant time (hashing first makes the lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}

/** `Authorization: Bearer <key>` -> true when it carries the API key. */
export function checkBearer(header: string | undefined, apiKey: string): boolean {
  if (!header) return false
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return m !== null && safeEqual(m[1]!, apiKey)
}

export function newSecretToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}
