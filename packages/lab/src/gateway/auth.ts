import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex')
}

/** Compares in constant time (hashing first makes the lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}

/** The secret of `Authorization: Bearer <secret>`, if the header is one. */
export function bearerOf(header: string | undefined): string | undefined {
  if (!header) return undefined
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1]
}

export function newSecretToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}
