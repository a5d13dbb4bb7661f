// Files through a real agent: streamed both ways, written atomically, errors as the API has them.
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentChannel } from './channel.ts'
import { claimedAgent, ensureBundle, until, type ClaimedAgent } from './agent-ops.test-util.ts'

const isRoot = process.getuid?.() === 0
/** An unprivileged uid for the agent: the kernel, not root's bypass, decides what it reaches. */
const USER_UID = 4242

async function readAll(ch: AgentChannel, path: string): Promise<Buffer> {
  const r = await ch.ops.readPath(path)
  if (r.kind !== 'file') throw new Error(`${path} is a ${r.kind}`)
  const data = Buffer.concat(await r.data.toArray())
  expect(data.length).toBe(r.size)
  return data
}

const write = (ch: AgentChannel, path: string, data: Buffer | string, max = 1 << 30) => ch.ops.writeFile(path, Readable.from([Buffer.from(data)]), max)
const uploads = (dir: string) => readdirSync(dir).filter((n) => n.includes('.upload-'))

describe.skipIf(!isRoot)('files through the agent, as an unprivileged user', () => {
  let a: ClaimedAgent

  beforeAll(async () => {
    ensureBundle()
    a = await claimedAgent({ uid: USER_UID })
  }, 60_000)
  afterAll(async () => {
    await a?.stop()
  })

  it('round-trips 50 MB of random bytes, streamed both ways', async () => {
    const chunks = Array.from({ length: 50 }, () => randomBytes(1_000_000))
    const sha = (bufs: Buffer[]) => bufs.reduce((h, c) => h.update(c), createHash('sha256')).digest('hex')
    expect(await a.ch.ops.writeFile('big.bin', Readable.from(chunks), 1 << 30)).toEqual({ path: join(a.home, 'big.bin'), size: 50_000_000 })
    expect(statSync(join(a.home, 'big.bin'))).toMatchObject({ size: 50_000_000, uid: USER_UID })
    const r = await a.ch.ops.readPath('big.bin')
    expect(r).toMatchObject({ kind: 'file', size: 50_000_000 })
    if (r.kind === 'file') expect(sha(await r.data.toArray())).toBe(sha(chunks))
  }, 120_000)

  it('creates the parents, writes 0644 or keeps the old mode, and lists a directory as lstat sees it', async () => {
    await write(a.ch, 'deep/er/file.txt', 'hello')
    expect(readFileSync(join(a.home, 'deep/er/file.txt'), 'utf8')).toBe('hello')
    expect(statSync(join(a.home, 'deep/er/file.txt')).mode & 0o777).toBe(0o644)
    chmodSync(join(a.home, 'deep/er/file.txt'), 0o750)
    await write(a.ch, join(a.home, 'deep/er/file.txt'), 'again')
    expect(statSync(join(a.home, 'deep/er/file.txt')).mode & 0o777).toBe(0o750)
    symlinkSync('file.txt', join(a.home, 'deep/er/link'))
    mkdirSync(join(a.home, 'deep/er/sub'))
    const listing = await a.ch.ops.readPath('deep/er')
    expect(listing).toMatchObject({ kind: 'dir', truncated: false })
    if (listing.kind !== 'dir') return
    expect(listing.entries.map((e) => [e.name, e.type, e.mode])).toEqual([['file.txt', 'file', '0750'], ['link', 'symlink', '0777'], ['sub', 'dir', '0755']])
    expect(listing.entries[0]).toMatchObject({ size: 5 })
    expect(Date.parse(listing.entries[0]!.mtime)).toBeGreaterThan(Date.now() - 60_000)
  })

  it('a reader never sees part of a file: the old one stays until the new one is whole, and an abandoned upload leaves nothing', async () => {
    await write(a.ch, 'atomic.txt', 'old')
    const body = new PassThrough()
    const writing = a.ch.ops.writeFile('atomic.txt', body, 1 << 30)
    body.write(Buffer.alloc(300_000, 'n'))
    await until('the upload begun', () => uploads(a.home).length === 1)
    expect((await readAll(a.ch, 'atomic.txt')).toString()).toBe('old')
    body.end(Buffer.alloc(1000, 'n'))
    expect(await writing).toMatchObject({ size: 301_000 })
    expect((await readAll(a.ch, 'atomic.txt')).length).toBe(301_000)
    expect(uploads(a.home)).toEqual([])
    // An upload past its limit is cancelled: the temporary file goes, the old file stays.
    await expect(a.ch.ops.writeFile('atomic.txt', Readable.from([Buffer.alloc(70_000), Buffer.alloc(70_000)]), 100_000)).rejects.toMatchObject({ code: 'too_large' })
    await until('the temporary file removed', () => uploads(a.home).length === 0)
    expect((await readAll(a.ch, 'atomic.txt')).length).toBe(301_000)
  })

  it('an upload under /proc answers at once with an error, and holds no operation open', async () => {
    // Node's mkdir({ recursive }) never returns for these: the parents are made one by one.
    for (const path of ['/proc/self/x/y', '/proc/1/cwd/../nowhere/z', '/proc/self/root/../x/y']) {
      await expect(write(a.ch, path, 'x')).rejects.toMatchObject({ name: 'AgentOpError' })
    }
    expect(await readAll(a.ch, 'deep/er/file.txt')).toEqual(Buffer.from('again'))
  })

  it('removes a file, an empty directory, and with recursive a tree; missing is file_not_found', async () => {
    await write(a.ch, 'rm/a/b.txt', 'x')
    await expect(a.ch.ops.removePath('rm', false)).rejects.toMatchObject({ code: 'invalid_path' })
    await a.ch.ops.removePath('rm/a/b.txt', false)
    await a.ch.ops.removePath('rm/a', false)
    await write(a.ch, 'rm/c/d.txt', 'x')
    await a.ch.ops.removePath('rm', true)
    expect(() => lstatSync(join(a.home, 'rm'))).toThrow(/ENOENT/)
    await expect(a.ch.ops.removePath('rm', true)).rejects.toMatchObject({ code: 'file_not_found' })
    await expect(a.ch.ops.readPath('nowhere')).rejects.toMatchObject({ code: 'file_not_found' })
  })

  it('refuses a FIFO or a device as a file (invalid_path), and a directory as an upload target', async () => {
    execFileSync('mkfifo', [join(a.home, 'fifo')])
    await expect(a.ch.ops.readPath('fifo')).rejects.toMatchObject({ code: 'invalid_path' })
    await expect(a.ch.ops.readPath('/dev/zero')).rejects.toMatchObject({ code: 'invalid_path' })
    await expect(write(a.ch, 'deep', 'x')).rejects.toMatchObject({ code: 'invalid_path' })
    await expect(write(a.ch, 'deep/er/file.txt/below', 'x')).rejects.toMatchObject({ code: 'invalid_path' })
  })

  it("reaches through symlinks and .. only what the user's uid can: root's files are permission_denied", async () => {
    const rootDir = mkdtempSync(join(tmpdir(), 'lab-ops-root-'))
    chmodSync(rootDir, 0o755)
    const secret = join(rootDir, 'secret')
    writeFileSync(secret, 'root only', { mode: 0o600 })
    try {
      symlinkSync(secret, join(a.home, 'to-secret'))
      symlinkSync('/etc/hostname', join(a.home, 'to-hostname'))
      const dotdot = `../../${basename(rootDir)}/secret` // from the home, /tmp/<agent dir>/home
      await expect(a.ch.ops.readPath('to-secret')).rejects.toMatchObject({ code: 'permission_denied' })
      await expect(a.ch.ops.readPath(dotdot)).rejects.toMatchObject({ code: 'permission_denied' })
      await expect(a.ch.ops.readPath('/etc/shadow')).rejects.toMatchObject({ code: 'permission_denied' })
      expect((await readAll(a.ch, 'to-hostname')).toString()).toBe(readFileSync('/etc/hostname', 'utf8'))
      await expect(write(a.ch, `${rootDir}/x`, 'x')).rejects.toMatchObject({ code: 'permission_denied' })
      await expect(write(a.ch, dotdot, 'x')).rejects.toMatchObject({ code: 'permission_denied' })
      await expect(a.ch.ops.removePath(dotdot, false)).rejects.toMatchObject({ code: 'permission_denied' })
      // Writing to a symlink replaces the link in the user's directory, never what it points to.
      await write(a.ch, 'to-secret', 'mine')
      expect(lstatSync(join(a.home, 'to-secret')).isFile()).toBe(true)
      expect(readFileSync(secret, 'utf8')).toBe('root only')
      expect(readdirSync(rootDir)).toEqual(['secret'])
    } finally {
      rmSync(rootDir, { recursive: true, force: true })
    }
  })

  it('a full file system is insufficient_storage, and the partial upload is removed', async () => {
    const small = join(a.home, 'small')
    mkdirSync(small)
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=1m,uid=${USER_UID},gid=${USER_UID}`, 'lab-ops-test', small])
    try {
      await expect(a.ch.ops.writeFile('small/big', Readable.from([randomBytes(3_000_000)]), 1 << 30)).rejects.toMatchObject({ code: 'insufficient_storage' })
      await until('the partial upload removed', () => uploads(small).length === 0)
      expect(readdirSync(small)).toEqual([])
    } finally {
      execFileSync('umount', [small])
    }
  })
})
