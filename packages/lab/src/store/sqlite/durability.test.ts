import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { afterEach, describe, expect, it } from 'vitest'
import { WalCheckpointer } from './checkpointer.ts'
import { SqliteStore } from './sqlite-store.ts'

const here = dirname(fileURLToPath(import.meta.url))

async function until<T>(read: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = read()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('SqliteStore durability and checkpoints', () => {
  const dirs: string[] = []
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-store-durable-'))
    dirs.push(dir)
    return dir
  }
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  it('keeps every commit of a process killed with SIGKILL right after it committed', async () => {
    const dir = tempDir()
    const path = join(dir, 'lab.db')
    // Bundled as CommonJS so that NODE_PATH lets it find better-sqlite3 from a temp dir.
    const script = join(dir, 'kill-after-commit.cjs')
    await build({ entryPoints: [join(here, 'kill-after-commit.fixture.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: script, external: ['better-sqlite3'], logLevel: 'silent' })
    const child = spawn(process.execPath, [script, path, '1200'], { env: { ...process.env, NODE_PATH: join(here, '../../../../../node_modules') }, stdio: 'inherit' })
    const signal = await new Promise((r) => child.on('exit', (_code, sig) => r(sig)))
    expect(signal).toBe('SIGKILL')
    const store = new SqliteStore(path)
    expect(await store.countSandboxes('alpha')).toEqual({ starting: 0, warm: 1199, claimed: 1, destroying: 0 })
    expect(await store.getAttachToken('f'.repeat(64))).toMatchObject({ sessionId: 's-last' })
    await store.close()
  }, 120_000)

  it('does not checkpoint inside commits: a worker thread copies the WAL into the file', async () => {
    const store = new SqliteStore(join(tempDir(), 'lab.db'))
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0)
    // Far past the 1000 pages at which a commit would checkpoint by itself.
    for (let i = 0; i < 1500; i++) await store.insertSandbox({ id: `sb-${i}`, pool: 'alpha', createdAt: i })
    const done = await until(() => (store.lastCheckpoint && store.lastCheckpoint.checkpointed > 0 ? store.lastCheckpoint : undefined), 'a checkpoint by the worker')
    expect(done.checkpointed).toBeGreaterThan(1000)
    await store.close()
  }, 60_000)

  it('reports a checkpoint worker that cannot open its database (the store then lets commits checkpoint again)', async () => {
    const why = await new Promise<string>((resolve) => new WalCheckpointer(join(tempDir(), 'missing', 'lab.db'), resolve))
    expect(why).toMatch(/directory does not exist|unable to open|not exist/i)
  })
})
