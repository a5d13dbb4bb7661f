import { execFile, execFileSync } from 'node:child_process'
import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadMountAddon } from './mounts.ts'
import { ensureWorkspace } from './workspace.ts'
import { IMAGES_DIR, imagePath, unmountWorkspaceImages } from './workspace-image.ts'

const UID = 100_000
const QUOTA = 32 * 1024 ** 2
const skip = process.getuid?.() !== 0 ? 'loop mounts need root' : !existsSync('/usr/sbin/mkfs.ext4') && !existsSync('/sbin/mkfs.ext4') ? 'mkfs.ext4 is missing (e2fsprogs)' : undefined

/** Loop devices backed by files under `dir` (losetup's view, not ours). */
function loopsUnder(dir: string): string[] {
  return execFileSync('losetup', ['-a'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(dir))
}
const mountsAt = (path: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === path)
const isMountPoint = (dir: string) => lstatSync(dir).dev !== statSync(join(dir, '..')).dev

describe.skipIf(skip !== undefined)(`workspace images${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let base: string
  let ws: string
  const logLines: string[] = []
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _e, cb) => (logLines.push(String(chunk)), cb()) }))
  const opts = { uid: UID, quotaBytes: QUOTA, logger }
  const addon = loadMountAddon()

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'ilab-wsimg-'))
    ws = join(base, 'workspaces')
  })
  afterAll(async () => {
    if (!base) return
    await unmountWorkspaceImages(ws, addon, logger)
    const leftover = loopsUnder(base)
    await rm(base, { recursive: true, force: true })
    expect(leftover).toEqual([])
  })

  it('creates one image per user on first use, mounts it once even for claims at once, and owns nothing else', async () => {
    const dirs = await Promise.all(Array.from({ length: 5 }, () => ensureWorkspace(ws, 'alice', opts)))
    const dir = join(ws, 'alice')
    expect(new Set(dirs)).toEqual(new Set([dir]))
    expect(mountsAt(dir)).toHaveLength(1)
    expect(loopsUnder(base)).toHaveLength(1)
    const image = imagePath(ws, 'alice')
    expect(statSync(image).size).toBe(QUOTA)
    expect(statSync(image).mode & 0o777).toBe(0o600)
    expect(statSync(join(ws, IMAGES_DIR)).mode & 0o777).toBe(0o700)
    expect(statSync(join(ws, IMAGES_DIR)).uid).toBe(0)
    const home = statSync(dir)
    expect([home.uid, home.gid, home.mode & 0o777]).toEqual([UID, UID, 0o700])
    expect(existsSync(join(dir, 'lost+found'))).toBe(false)
    // The next claim finds it mounted: nothing is created or mounted again.
    expect(await ensureWorkspace(ws, 'alice', opts)).toBe(dir)
    expect(mountsAt(dir)).toHaveLength(1)
  })

  it('fills up with ENOSPC at the quota, and only that workspace is full', async () => {
    const alice = await ensureWorkspace(ws, 'alice', opts)
    const bob = await ensureWorkspace(ws, 'bob', opts)
    // As root, which gets no reserved blocks either (the sandbox user's view is in test/resource-limits.test.ts).
    const run = (cmd: string) => {
      try {
        return execFileSync('sh', ['-c', cmd], { encoding: 'utf8', stdio: 'pipe' })
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string }
        return `${e.stdout ?? ''}${e.stderr ?? ''}`
      }
    }
    expect(run(`fallocate -l 64M ${alice}/big`)).toMatch(/No space left on device/)
    expect(run(`dd if=/dev/zero of=${alice}/fill bs=1M count=64 2>&1`)).toMatch(/No space left on device/)
    expect(run(`dd if=/dev/zero of=${bob}/ok bs=1M count=8 2>/dev/null && echo bob-ok`)).toContain('bob-ok')
    await writeFile(join(base, 'host-probe'), Buffer.alloc(1024 ** 2)) // the host's disk
    await rm(join(alice, 'fill'), { force: true })
  })

  it('unmounts at teardown, frees the loop devices, keeps the data, and mounts the same image again', async () => {
    const dir = await ensureWorkspace(ws, 'carol', opts)
    await writeFile(join(dir, 'notes.txt'), 'kept\n')
    expect(await unmountWorkspaceImages(ws, addon, logger)).toBeGreaterThanOrEqual(3) // alice, bob, carol
    expect(isMountPoint(dir)).toBe(false)
    expect(loopsUnder(base)).toEqual([])
    expect(existsSync(imagePath(ws, 'carol'))).toBe(true)
    expect(await ensureWorkspace(ws, 'carol', opts)).toBe(dir)
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('kept\n')
  })

  it('reuses an image a previous gateway left mounted, and never reformats one', async () => {
    const image = imagePath(ws, 'dan')
    await writeFile(image, '', { mode: 0o600 })
    await truncate(image, QUOTA)
    execFileSync('mkfs.ext4', ['-q', image])
    const dir = join(ws, 'dan')
    await mkdir(dir)
    execFileSync('mount', ['-o', 'loop', image, dir])
    await writeFile(join(dir, 'from-before'), 'x')
    expect(await ensureWorkspace(ws, 'dan', opts)).toBe(dir)
    expect(mountsAt(dir)).toHaveLength(1)
    expect(existsSync(join(dir, 'from-before'))).toBe(true)
    // Not mounted, with a quota of another size: the image is mounted as it is.
    await unmountWorkspaceImages(ws, addon, logger)
    expect(await ensureWorkspace(ws, 'dan', { ...opts, quotaBytes: 2 * QUOTA })).toBe(dir)
    expect(existsSync(join(dir, 'from-before'))).toBe(true)
    expect(statSync(image).size).toBe(QUOTA)
  })

  it('keeps a workspace that predates quotas as a plain directory, with a log line', async () => {
    const dir = join(ws, 'erin')
    await mkdir(dir, { mode: 0o700 })
    await writeFile(join(dir, 'old.txt'), 'old\n')
    expect(await ensureWorkspace(ws, 'erin', opts)).toBe(dir)
    expect(isMountPoint(dir)).toBe(false)
    expect(existsSync(imagePath(ws, 'erin'))).toBe(false)
    expect(readFileSync(join(dir, 'old.txt'), 'utf8')).toBe('old\n')
    expect(logLines.join('')).toMatch(/"user":"erin".*workspace predates the quota/)
  })

  it('mounts an existing image when quotas are off, so its files stay the home', async () => {
    const dir = await ensureWorkspace(ws, 'carol', { ...opts, quotaBytes: 0 })
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('kept\n')
    const plain = await ensureWorkspace(ws, 'gus', { ...opts, quotaBytes: 0 })
    expect(isMountPoint(plain)).toBe(false)
    expect(existsSync(imagePath(ws, 'gus'))).toBe(false)
  })

  it('two gateways on one workspaces dir making the same users\' images at the same instant: each gets the workspace, each image is made and mounted once', async () => {
    const here = dirname(fileURLToPath(import.meta.url))
    const script = join(base, 'workspace-image-worker.cjs')
    await build({ entryPoints: [join(here, 'workspace-image-worker.fixture.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: script, external: ['pino'], logLevel: 'silent' })
    const env = { ...process.env, NODE_PATH: join(here, '../../../../../node_modules') }
    const users = ['race-1', 'race-2', 'race-3', 'race-4']
    const startAt = String(Date.now() + 1500)
    const run = promisify(execFile)
    const outs = await Promise.all(['a', 'b'].map(() => run(process.execPath, [script, ws, users.join(','), String(UID), String(QUOTA), startAt], { env })))
    const results = outs.flatMap((o) => JSON.parse(o.stdout) as { user: string; dir?: string; error?: string }[])
    expect(results.filter((r) => r.error !== undefined)).toEqual([])
    for (const user of users) {
      const dir = join(ws, user)
      expect(results.filter((r) => r.user === user).map((r) => r.dir)).toEqual([dir, dir])
      expect(mountsAt(dir)).toHaveLength(1)
      expect(loopsUnder(base).filter((l) => l.includes(`/${user}.img`))).toHaveLength(1)
      expect(statSync(imagePath(ws, user)).size).toBe(QUOTA)
    }
    expect(readdirSync(join(ws, IMAGES_DIR)).filter((n) => n.endsWith('.new'))).toEqual([])
  })

  it('refuses symlinks, foreign mounts and names that are not users', async () => {
    await symlink('/etc', join(ws, 'mallory'))
    await expect(ensureWorkspace(ws, 'mallory', opts)).rejects.toThrow(/symlink/)
    await mkdir(join(ws, 'frank'))
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(ws, 'frank')])
    try {
      await expect(ensureWorkspace(ws, 'frank', opts)).rejects.toThrow(/something other than/)
    } finally {
      execFileSync('umount', [join(ws, 'frank')])
    }
    for (const name of ['.images', '.', '..', 'a/b', '']) await expect(ensureWorkspace(ws, name, opts)).rejects.toThrow(/invalid user name/)
  })
})
