import { randomBytes } from 'node:crypto'

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

/** Random lowercase base32 id with a prefix, e.g. `ses-k3x…`. */
export function newId(prefix: string, length = 20): string {
  const bytes = randomBytes(length)
  let s = ''
  for (let i = 0; i < length; i++) s += ALPHABET[bytes[i]! & 31]
  return `${prefix}-${s}`
}
