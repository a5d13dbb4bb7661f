import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { newSecretToken } from './auth.ts'

export const API_KEY_FILE = 'api-key'

/** The configured key, else the one stored in the data dir, else a new one (stored 0600). */
export function resolveApiKey(dataDir: string, configured: string | undefined): { key: string; source: 'config' | 'file' | 'generated' } {
  if (configured) return { key: configured, source: 'config' }
  const file = join(dataDir, API_KEY_FILE)
  const stored = () => {
    const key = existsSync(file) ? readFileSync(file, 'utf8').trim() : ''
    return key.length >= 16 ? key : undefined
  }
  const found = stored()
  if (found) return { key: found, source: 'file' }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const key = `il_${newSecretToken(24)}`
  const fresh = !existsSync(file)
  try {
    // A new file is made exclusively: of two gateways starting at once on one data dir, the
    // second reads the first's key. A file too short to be a key is replaced, as it always was.
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: fresh ? 'wx' : 'w' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const theirs = stored()
    if (theirs) return { key: theirs, source: 'file' }
    writeFileSync(file, `${key}\n`, { mode: 0o600 })
  }
  return { key, source: 'generated' }
}

/** Reads the stored key without creating one (for the CLI's client commands). */
export function readStoredApiKey(dataDir: string): string | undefined {
  const file = join(dataDir, API_KEY_FILE)
  if (!existsSync(file)) return undefined
  const key = readFileSync(file, 'utf8').trim()
  return key.length > 0 ? key : undefined
}
