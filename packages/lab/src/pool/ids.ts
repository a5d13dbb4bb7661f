import { randomBytes } from 'node:crypto'

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** A random sandbox id: `sb-` and 12 base32 characters (60 bits). */
export function newSandboxId(): string {
  const bytes = randomBytes(12)
  let s = 'sb-'
  for (const b of bytes) s += BASE32[b & 31]
  return s
}
