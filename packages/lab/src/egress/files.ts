/** Small file helpers for the secrets the proxy keeps in the data dir. */
import { randomBytes } from 'node:crypto'
import { link, unlink, writeFile } from 'node:fs/promises'

/**
 * Writes `data` to a temporary file and links it to `path` only if nothing is there yet, so a
 * reader never sees a half-written file and two processes starting at once agree on one.
 * False when another process won (read theirs).
 */
export async function publishOnce(path: string, data: Buffer | string, mode: number): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(tmp, data, { mode, flag: 'wx' })
  try {
    await link(tmp, path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await unlink(tmp)
  }
}
