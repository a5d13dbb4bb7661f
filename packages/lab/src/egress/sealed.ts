/**
 * Credential values at rest: AES-256-GCM with a key kept in the data dir (0600) or given by
 * config, so a copy of the store alone does not reveal them and a gateway restart can still read
 * them. `aad` binds a sealed value to its context (a session id): a value moved to another row
 * fails to open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { publishOnce } from './files.ts'

export const SEAL_KEY_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const PREFIX = 'v1.'

export interface Sealer {
  /** `v1.` + base64url(iv | tag | ciphertext). */
  seal(plaintext: Buffer | string, aad?: string): string
  /** The plaintext; throws when the text was altered, sealed with another key, or with another `aad`. */
  open(sealed: string, aad?: string): Buffer
}

export function createSealer(key: Buffer): Sealer {
  if (key.length !== SEAL_KEY_BYTES) throw new Error(`sealing key must be ${SEAL_KEY_BYTES} bytes, got ${key.length}`)
  const secret = Buffer.from(key)
  return {
    seal(plaintext, aad) {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', secret, iv)
      if (aad !== undefined) cipher.setAAD(Buffer.from(aad))
      const body = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext) : plaintext), cipher.final()])
      return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
    },
    open(sealed, aad) {
      if (!sealed.startsWith(PREFIX)) throw new Error('sealed value: unknown format')
      const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64url')
      if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('sealed value: too short')
      const decipher = createDecipheriv('aes-256-gcm', secret, raw.subarray(0, IV_BYTES))
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
      if (aad !== undefined) decipher.setAAD(Buffer.from(aad))
      try {
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()])
      } catch {
        throw new Error('sealed value: authentication failed (altered, or sealed with another key)')
      }
    },
  }
}

/** Reads the 32-byte key at `path`, or creates it (mode 0600, its folder 0700) when absent. */
export async function loadOrCreateKey(path: string): Promise<Buffer> {
  try {
    const key = await readFile(path)
    if (key.length !== SEAL_KEY_BYTES) throw new Error(`${path}: a sealing key is ${SEAL_KEY_BYTES} bytes, this file has ${key.length}`)
    return key
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const key = randomBytes(SEAL_KEY_BYTES)
  return (await publishOnce(path, key, 0o600)) ? key : loadOrCreateKey(path)
}
