/** The directory and small-file operations `bench fs` measures, in the order they run. */
export const FS_OPS = ['mkdir', 'create', 'write', 'stat', 'readdir', 'rename', 'unlink', 'rmdir'] as const
export type FsOp = (typeof FS_OPS)[number]

/** Bytes written by the `write` operation (open, write, close an existing file). */
export const WRITE_BYTES = 4096

/** How often `readdir` lists the whole directory of `files` entries. */
export function readdirRepeats(files: number): number {
  return Math.min(200, Math.max(5, Math.ceil(files / 20)))
}

/** Parses `--ops a,b,c` into the canonical order; throws a message naming what is unknown. */
export function parseOps(list: string): FsOp[] {
  const wanted = list.split(',').map((s) => s.trim()).filter(Boolean)
  const unknown = wanted.filter((w) => !(FS_OPS as readonly string[]).includes(w))
  if (unknown.length > 0) throw new Error(`unknown operation(s) ${unknown.join(', ')}; choose from ${FS_OPS.join(',')}`)
  if (wanted.length === 0) throw new Error(`--ops is empty; choose from ${FS_OPS.join(',')}`)
  return FS_OPS.filter((op) => wanted.includes(op))
}

/** Parses `--concurrency 1,4,16`. */
export function parseLevels(list: string, max = 256): number[] {
  const levels = list.split(',').map((s) => Number(s.trim()))
  if (levels.length === 0 || levels.some((n) => !Number.isInteger(n) || n < 1 || n > max)) {
    throw new Error(`--concurrency must be a comma-separated list of integers from 1 to ${max}, got "${list}"`)
  }
  return [...new Set(levels)]
}
