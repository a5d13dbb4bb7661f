import { mkdirSync, rmSync, statSync, statfsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join, resolve } from 'node:path'

/** statfs magic numbers of the file systems a workspace is likely to live on. */
const FS_TYPES: Record<number, string> = {
  0xef53: 'ext4', 0x01021994: 'tmpfs', 0x58465342: 'xfs', 0x6969: 'nfs', 0x794c7630: 'overlay',
  0x9123683e: 'btrfs', 0x2fc12fc1: 'zfs', 0x65735546: 'fuse', 0x858458f6: 'ramfs', 0xff534d42: 'cifs',
}

export class FsTargetError extends Error {
  override readonly name = 'FsTargetError'
}

export interface FsTarget {
  readonly path: string
  readonly fsType: string
  readonly freeBytes: number
  /** Scratch directory inside `path` that holds everything the benchmark makes. */
  readonly workDir: string
  /** Removes the scratch directory (idempotent, synchronous so it also runs on process exit). */
  readonly cleanup: () => void
}

/**
 * Checks `--path` and makes the scratch directory, with a message that says what to fix:
 * missing, not a directory, read-only, or too little free space for `needBytes`.
 */
export function prepareTarget(path: string, needBytes: number): FsTarget {
  const abs = resolve(path)
  let st
  try {
    st = statSync(abs)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new FsTargetError(code === 'ENOENT' ? `--path ${abs} does not exist: create it or point --path at an existing directory` : `--path ${abs}: ${(err as Error).message}`)
  }
  if (!st.isDirectory()) throw new FsTargetError(`--path ${abs} is not a directory`)
  const sfs = statfsSync(abs)
  const freeBytes = Number(sfs.bavail) * Number(sfs.bsize)
  const fsType = FS_TYPES[Number(sfs.type)] ?? `0x${Number(sfs.type).toString(16)}`
  const workDir = join(abs, `.infra-lab-bench-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    mkdirSync(workDir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
      throw new FsTargetError(`--path ${abs} is not writable (${code}): the benchmark creates and removes files there; choose a writable directory`)
    }
    if (code === 'ENOSPC' || code === 'EDQUOT') throw new FsTargetError(`--path ${abs} is full (${code}): free space or choose another directory`)
    throw new FsTargetError(`--path ${abs}: cannot create a scratch directory: ${(err as Error).message}`)
  }
  if (freeBytes < needBytes) {
    rmSync(workDir, { recursive: true, force: true })
    throw new FsTargetError(`--path ${abs} has ${(freeBytes / 2 ** 20).toFixed(1)} MiB free, the benchmark needs about ${(needBytes / 2 ** 20).toFixed(1)} MiB: free space or lower --files`)
  }
  let cleaned = false
  const cleanup = () => {
    if (cleaned) return
    rmSync(workDir, { recursive: true, force: true, maxRetries: 3 })
    cleaned = true
  }
  return { path: abs, fsType, freeBytes, workDir, cleanup }
}
