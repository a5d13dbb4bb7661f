import { lstat, opendir } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_DIR_ENTRIES } from '@infra-lab/protocol/ops-limits'

export interface DirEntry {
  readonly name: string
  readonly type: 'file' | 'dir' | 'symlink'
  readonly size: number
  readonly mode: string
  readonly mtime: string
}

/** ISO 8601 has four-digit years: a time set outside them (touch can) is shown at the nearest end. */
const MIN_TIME_MS = new Date('0001-01-01T00:00:00.000Z').getTime()
const MAX_TIME_MS = new Date('9999-12-31T23:59:59.999Z').getTime()

function isoTime(ms: number): string {
  return new Date(Number.isFinite(ms) ? Math.min(Math.max(ms, MIN_TIME_MS), MAX_TIME_MS) : 0).toISOString()
}

/** The JSON of one listing stays well inside a control frame (MAX_FRAME_BYTES, 4 MiB). */
const MAX_LISTING_JSON_BYTES = 3 * 1024 * 1024

/**
 * A directory's entries as lstat sees them (a symlink is listed as one, not followed), sorted by
 * name: at most MAX_DIR_ENTRIES, and no more than fit one answer; `truncated` when some were
 * left out. Entries other than files, directories and symlinks (FIFOs, sockets, devices) are
 * listed as files. An entry that vanishes while it is listed is left out.
 */
export async function listDirectory(path: string): Promise<{ entries: DirEntry[]; truncated: boolean }> {
  const names: string[] = []
  let truncated = false
  const dir = await opendir(path)
  try {
    for await (const e of dir) {
      if (names.length === MAX_DIR_ENTRIES) {
        truncated = true
        break
      }
      names.push(e.name)
    }
  } finally {
    await dir.close().catch(() => undefined)
  }
  names.sort()
  const entries: DirEntry[] = []
  let jsonBytes = 0
  for (const name of names) {
    let st
    try {
      st = await lstat(join(path, name))
    } catch {
      continue
    }
    const entry: DirEntry = {
      name,
      type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file',
      size: st.size,
      mode: `0${(st.mode & 0o777).toString(8).padStart(3, '0')}`,
      mtime: isoTime(st.mtimeMs),
    }
    jsonBytes += Buffer.byteLength(JSON.stringify(entry)) + 1
    if (jsonBytes > MAX_LISTING_JSON_BYTES) {
      truncated = true
      break
    }
    entries.push(entry)
  }
  return { entries, truncated }
}
