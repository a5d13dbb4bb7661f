import { readdir, rmdir } from 'node:fs/promises'

/** The entries of `dir`, or none when it does not exist (or cannot be read). */
export async function readdirIfExists(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch {
    return []
  }
}

/** Removes an empty directory; a missing one is fine, a non-empty one throws (never `rm -r`). */
export async function rmdirIfExists(dir: string): Promise<void> {
  try {
    await rmdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
