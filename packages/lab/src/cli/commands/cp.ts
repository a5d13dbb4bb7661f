import { randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { describeFailure, labFromFlags, type ClientFlags } from '../client-options.ts'
import type { CliIo, ExitCode } from '../../io.ts'

export interface CpIo extends CliIo {
  readonly stdin: NodeJS.ReadableStream
}

/** `ses-…:PATH`: a path in a session (a local path that looks like one is written `./ses-…:x`). */
const REMOTE = /^(ses-[a-z0-9]{1,64}):(.*)$/s

type Remote = { readonly session: string; readonly path: string }
type Local = { readonly local: string }
type Endpoint = Remote | Local

export function parseEndpoint(arg: string): Endpoint | string {
  const m = REMOTE.exec(arg)
  if (!m) return { local: arg }
  if (m[2] === '') return `${arg}: no path after the session id (ses-…:PATH)`
  return { session: m[1]!, path: m[2]! }
}

/**
 * `infra-lab cp LOCAL SESSION:PATH` and `infra-lab cp SESSION:PATH LOCAL`: one file, streamed
 * both ways (never held whole here); `-` is stdin or stdout. A download is written to a
 * temporary name beside the target and renamed once complete.
 */
export async function cpCommand(src: string, dst: string, flags: ClientFlags, io: CpIo, signal: AbortSignal): Promise<ExitCode> {
  const fail = (msg: string, code: ExitCode = 1) => {
    io.stderr.write(`infra-lab cp: ${msg}\n`)
    return code
  }
  const from = parseEndpoint(src)
  const to = parseEndpoint(dst)
  if (typeof from === 'string') return fail(from, 2)
  if (typeof to === 'string') return fail(to, 2)
  if ('session' in from === 'session' in to) return fail('one side must be SESSION:PATH and the other a local path or -: infra-lab cp ./file ses-…:dir/file, or infra-lab cp ses-…:dir/file ./file', 2)
  try {
    const lab = labFromFlags(flags, io)
    if ('local' in from) {
      const remote = to as Remote
      let body: Readable
      if (from.local === '-') body = Readable.from(io.stdin)
      else {
        const path = resolve(io.cwd, from.local)
        if (!statSync(path).isFile()) return fail(`${from.local} is not a regular file (copy a directory with: tar c DIR | infra-lab exec --session ID -- tar x)`, 2)
        body = createReadStream(path)
      }
      const session = await lab.sessions.get(remote.session, { signal })
      await session.files.write(remote.path, Readable.toWeb(body) as ReadableStream<Uint8Array>, { signal })
      return 0
    }
    const local = (to as Local).local
    const session = await lab.sessions.get(from.session, { signal })
    const stream = Readable.fromWeb(await session.files.readStream(from.path, { signal }) as WebReadableStream<Uint8Array>)
    if (local === '-') {
      await pipeline(stream, toStdout(io.stdout), { signal })
      return 0
    }
    let target = resolve(io.cwd, local)
    if (isDirectory(target)) target = join(target, basename(from.path))
    const partial = join(dirname(target), `.${basename(target)}.infra-lab-${randomBytes(4).toString('hex')}`)
    try {
      await pipeline(stream, createWriteStream(partial, { flags: 'wx' }), { signal })
      renameSync(partial, target)
    } finally {
      rmSync(partial, { force: true })
    }
    return 0
  } catch (err) {
    if (signal.aborted) return 130
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT' && e.path) return fail(`${e.path}: no such file or directory`)
    return fail(describeFailure(err))
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** Stdout as the end of a pipeline that is not closed after it (the process still writes to it). */
function toStdout(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (out.write(chunk)) cb()
      else out.once('drain', () => cb())
    },
  })
}
