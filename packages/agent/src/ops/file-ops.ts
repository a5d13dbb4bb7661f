import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { chmod, lstat, mkdir, open, rename, rm, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { OpErrorCode, OpRequest } from '@infra-lab/protocol'
import { MAX_STREAM_CHUNK_BYTES, StreamFd } from '@infra-lab/protocol/ops-limits'
import { listDirectory } from './dir-listing.ts'
import { sandboxPath, type ClaimContext } from './exec-env.ts'
import type { OpContext } from './op-context.ts'
import { CANCELLED, InStream, OutStream } from './op-link.ts'

type Req<T extends OpRequest['type']> = Extract<OpRequest, { type: T }>

// Every call here runs in a process with the session user's uid (the agent itself, or on ECS
// its user worker), so the kernel decides what a path reaches: symlinks and `..` lead only
// where the user's own shell could go.

/** The API's code for a file system error. */
export function fsErrorCode(err: unknown): OpErrorCode {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'file_not_found'
    case 'EACCES': case 'EPERM': case 'EROFS':
      return 'permission_denied'
    case 'ENOSPC': case 'EDQUOT': case 'EFBIG':
      return 'insufficient_storage'
    case 'ENOTDIR': case 'EISDIR': case 'ELOOP': case 'ENAMETOOLONG': case 'EINVAL': case 'ENOTEMPTY': case 'EEXIST': case 'EBUSY': case 'EXDEV': case 'ENXIO': case 'ENODEV':
      return 'invalid_path'
    default:
      return 'internal'
  }
}

/**
 * `mkdir -p`, one component at a time from the root. Node's own `mkdir({ recursive: true })`
 * never returns for some paths under /proc (`/proc/self/x/y`: it retries the parent forever),
 * and a path is the caller's choice: this one makes at most one mkdir per component and fails
 * with the first error that is not "exists as a directory".
 */
export async function mkdirParents(dir: string): Promise<void> {
  let at = '/'
  for (const part of resolve(dir).split('/').filter((p) => p !== '')) {
    at = join(at, part)
    try {
      await mkdir(at, 0o755)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      if (!(await stat(at)).isDirectory()) throw Object.assign(new Error(`${at} is not a directory`), { code: 'ENOTDIR' })
    }
  }
}

function fail(ctx: OpContext, err: unknown, path: string): void {
  const code = (err as NodeJS.ErrnoException).code
  ctx.error(fsErrorCode(err), code ? `${code}: ${path}` : `${(err as Error).message}: ${path}`)
}

/**
 * A regular file's size, then its bytes as the gateway's credit allows; or a directory's
 * entries. Opened without blocking, so a FIFO is refused rather than waited on.
 */
export async function readPath(ctx: OpContext, claim: ClaimContext, m: Req<'read_path'>): Promise<void> {
  const path = sandboxPath(claim, m.path)
  let fh: FileHandle
  let size: number
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
  } catch (err) {
    return fail(ctx, err, m.path)
  }
  try {
    const st = await fh.stat()
    if (st.isDirectory()) {
      await fh.close()
      const { entries, truncated } = await listDirectory(path)
      return ctx.end({ type: 'dir', opId: ctx.opId, entries, truncated })
    }
    if (!st.isFile()) {
      await fh.close()
      return ctx.error('invalid_path', `${m.path} is not a regular file or directory`)
    }
    size = st.size
  } catch (err) {
    await fh.close().catch(() => undefined)
    return fail(ctx, err, m.path)
  }
  if (ctx.cancelled) return void fh.close().then(() => ctx.done(), () => ctx.done())
  ctx.link.answer({ type: 'file', opId: ctx.opId, size })
  const out = new OutStream(ctx.link, ctx.opId, StreamFd.STDOUT)
  let pos = 0
  let reading = false
  let closed = false
  const finish = (err?: unknown) => {
    if (closed) return
    closed = true
    void fh.close().catch(() => undefined)
    if (ctx.cancelled) ctx.done()
    else if (err) fail(ctx, err, m.path)
    else ctx.done()
  }
  const pump = async (): Promise<void> => {
    if (reading || closed) return
    reading = true
    try {
      while (pos < size && !out.blocked && !ctx.cancelled) {
        // A buffer per read: an offered one is not ours any more (it may wait in the socket's queue).
        const buf = Buffer.allocUnsafeSlow(Math.min(MAX_STREAM_CHUNK_BYTES, size - pos))
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos)
        if (bytesRead === 0) throw new Error('the file shrank while it was read')
        out.offer(buf.subarray(0, bytesRead))
        pos += bytesRead
      }
    } catch (err) {
      reading = false
      return finish(err)
    }
    reading = false
    if (ctx.cancelled || (pos >= size && out.idle)) finish()
  }
  out.onUnblocked = () => void pump()
  ctx.on({ credit: (_fd, bytes) => out.grant(bytes), cancel: () => void pump() })
  await pump()
}

/**
 * Streams the gateway's bytes into a new file beside the target (O_EXCL, the target's mode or
 * 0644), creating the parents, and renames it over the target at the end: a reader sees the
 * old file or the new one, never a part. On any error or cancel the temporary file is removed.
 */
export async function writeFile(ctx: OpContext, claim: ClaimContext, m: Req<'write_file'>): Promise<void> {
  const target = sandboxPath(claim, m.path)
  const dir = dirname(target)
  const tmp = join(dir, `.${basename(target).slice(0, 200)}.upload-${randomBytes(6).toString('hex')}`)
  let fh: FileHandle
  let mode = 0o644
  try {
    await mkdirParents(dir)
    const st = await lstat(target).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined
      throw err
    })
    if (st?.isDirectory()) return ctx.error('invalid_path', `${m.path} is a directory`)
    if (st?.isFile()) mode = st.mode & 0o7777
    fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode)
  } catch (err) {
    return fail(ctx, err, m.path)
  }
  let size = 0
  let over = false
  const abandon = async (err?: unknown) => {
    if (over) return
    over = true
    await fh.close().catch(() => undefined)
    await unlink(tmp).catch(() => undefined)
    if (err === undefined) ctx.done()
    else fail(ctx, err, m.path)
  }
  const input = new InStream(ctx, async (chunk) => {
    for (let at = 0; at < chunk.length;) at += (await fh.write(chunk, at, chunk.length - at)).bytesWritten
    size += chunk.length
  }, () => void (async () => {
    try {
      await fh.close()
      over = true
      await chmod(tmp, mode) // the process umask may have narrowed what open() set
      await rename(tmp, target)
      ctx.end({ type: 'written', opId: ctx.opId, path: target, size })
    } catch (err) {
      over = false
      await abandon(err)
    }
  })(), (err) => void abandon(err === CANCELLED ? undefined : err))
  ctx.on({ stream: (fd, data) => fd === StreamFd.STDIN && input.push(data), cancel: () => input.abort(CANCELLED) })
}

/** Removes a file or symlink, an empty directory, or with `recursive` a directory and all in it. */
export async function removePath(ctx: OpContext, claim: ClaimContext, m: Req<'remove_path'>): Promise<void> {
  const path = sandboxPath(claim, m.path)
  try {
    const st = await lstat(path)
    if (!st.isDirectory()) await unlink(path)
    else if (m.recursive) await rm(path, { recursive: true })
    else await rmdir(path)
    ctx.done()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY') return ctx.error('invalid_path', `${m.path} is a directory that is not empty (remove it recursively)`)
    fail(ctx, err, m.path)
  }
}
