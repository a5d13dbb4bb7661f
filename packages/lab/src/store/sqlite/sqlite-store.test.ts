import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { runStoreContract } from '../contract.ts'
import { OPEN_BY_KEY_SQL, OPEN_BY_USER_SQL } from './admission.ts'
import { MIGRATIONS } from './migrations.ts'
import { SqliteStore } from './sqlite-store.ts'
import { poolSpecSchema } from '../../spec/pool-spec.ts'

runStoreContract('sqlite :memory:', async () => new SqliteStore(':memory:'))

describe('SqliteStore on a file', () => {
  const dirs: string[] = []
  const tempFile = () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-store-'))
    dirs.push(dir)
    return join(dir, 'lab.db')
  }
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  runStoreContract('sqlite file', async () => new SqliteStore(tempFile()))

  it('uses WAL, foreign keys, a busy timeout and records the schema version', async () => {
    const store = new SqliteStore(tempFile(), { busyTimeoutMs: 1234 })
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1)
    expect(store.db.pragma('busy_timeout', { simple: true })).toBe(1234)
    expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
    await store.close()
  })

  it('reopens an existing file without migrating twice and keeps its data', async () => {
    const path = tempFile()
    const a = new SqliteStore(path)
    await a.insertSandbox({ id: 'sb-1', pool: 'alpha', createdAt: 1 })
    await a.close()
    const b = new SqliteStore(path)
    expect((await b.getSandbox('sb-1'))?.state).toBe('starting')
    await b.close()
  })

  it('migrates a version 4 database with sessions in it: open counts, lists and purges agree before and after', async () => {
    const path = tempFile()
    const old = new Database(path)
    old.pragma('journal_mode = WAL')
    for (let v = 0; v < 4; v++) old.exec(MIGRATIONS[v]!)
    old.pragma('user_version = 4')
    const insert = old.prepare(`INSERT INTO sessions (id, user, pool, state, warm, created_at, ended_at, ended_reason, key_id)
      VALUES (?, ?, 'alpha', ?, 1, ?, ?, ?, ?)`)
    insert.run('s-open', 'ada', 'running', 10, null, null, 'key-1')
    insert.run('s-start', 'ada', 'starting', 20, null, null, null)
    insert.run('s-ended', 'ada', 'ended', 5, 30, 'exited', 'key-1')
    old.close()
    const store = new SqliteStore(path)
    expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
    expect(await store.countOpenSessions({ user: 'ada' })).toBe(2)
    expect(await store.countOpenSessions({ keyId: 'key-1' })).toBe(1)
    expect((await store.listSessions({ state: 'running' })).map((s) => s.id)).toEqual(['s-open'])
    expect((await store.listSessions({ state: 'ended' })).map((s) => s.id)).toEqual(['s-ended'])
    await store.endSession('s-open', 'exited', 40)
    expect(await store.countOpenSessions({ user: 'ada' })).toBe(1)
    expect(await store.purgeEndedSessions(35)).toBe(1)
    expect((await store.listSessions()).map((s) => s.id).sort()).toEqual(['s-open', 's-start'])
    await store.close()
  })

  it('reads back a pool spec a newer build wrote with a field this build does not know, without the field', async () => {
    const store = new SqliteStore(tempFile())
    const spec = poolSpecSchema.parse({ name: 'alpha', driver: 'fake', maxSize: 8 })
    await store.upsertPool(spec, 1)
    store.db.prepare(`UPDATE pools SET spec = json_set(spec, '$.addedLater', 1, '$.limits.gpus', 2)`).run()
    expect(JSON.parse((store.db.prepare('SELECT spec FROM pools').get() as { spec: string }).spec).addedLater).toBe(1)
    expect(await store.getPool('alpha')).toEqual(spec)
    expect(await store.listPools()).toEqual([spec])
    await store.close()
  })

  it('refuses a database from a newer build', async () => {
    const path = tempFile()
    const a = new SqliteStore(path)
    a.db.pragma(`user_version = ${MIGRATIONS.length + 1}`)
    await a.close()
    expect(() => new SqliteStore(path)).toThrow(/newer than this build/)
  })

  it('never hands one sandbox to two claims from two instances on the same file', async () => {
    const path = tempFile()
    const a = new SqliteStore(path)
    const b = new SqliteStore(path)
    for (let i = 0; i < 10; i++) {
      await a.insertSandbox({ id: `sb-${i}`, pool: 'alpha', createdAt: i })
      await a.markSandboxWarm(`sb-${i}`, { id: `sb-${i}`, pool: 'alpha', driver: 'fake', createdAt: i, address: { kind: 'unix', path: '/x' }, meta: {} }, i + 1)
    }
    const claims = await Promise.all(Array.from({ length: 30 }, (_, i) =>
      (i % 2 === 0 ? a : b).claimWarm('alpha', { id: `s-${i}`, user: 'ada', pool: 'alpha', createdAt: 100, envNames: [] }, 100)))
    const ids = claims.filter((c) => c !== undefined).map((c) => c.sandbox.id)
    expect(ids.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `sb-${i}`).sort())
    expect(await b.countSandboxes('alpha')).toEqual({ starting: 0, warm: 0, claimed: 10, destroying: 0 })
    await a.close()
    await b.close()
  })

  it('never hands one sandbox to two processes claiming on the same file at once', async () => {
    const path = tempFile()
    const store = new SqliteStore(path)
    const n = 1500
    for (let i = 0; i < n; i++) {
      const id = `sb-${String(i).padStart(3, '0')}`
      await store.insertSandbox({ id, pool: 'alpha', createdAt: i })
      await store.markSandboxWarm(id, { id, pool: 'alpha', driver: 'fake', createdAt: i, address: { kind: 'unix', path: '/x' }, meta: {} }, i)
    }
    // Bundled as CommonJS so that NODE_PATH lets it find better-sqlite3 from a temp dir.
    const here = dirname(fileURLToPath(import.meta.url))
    const script = join(dirname(path), 'claim-worker.cjs')
    await build({ entryPoints: [join(here, 'claim-worker.fixture.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: script, external: ['better-sqlite3'], logLevel: 'silent' })
    const env = { ...process.env, NODE_PATH: join(here, '../../../../../node_modules') }
    const run = promisify(execFile)
    const startAt = String(Date.now() + 1500)
    const outs = await Promise.all(['a', 'b', 'c'].map((tag) => run(process.execPath, [script, path, tag, startAt], { env })))
    const lists = outs.map((o) => JSON.parse(o.stdout) as string[])
    const all = lists.flat()
    expect(all).toHaveLength(n)
    expect(new Set(all).size).toBe(n)
    expect(await store.countSandboxes('alpha')).toEqual({ starting: 0, warm: 0, claimed: n, destroying: 0 })
    expect((await store.listSessions()).length).toBe(n)
    await store.close()
  })
})

/** The SQL of every statement the store prepares from now on (the statements built per call). */
function recordStatements(store: SqliteStore): string[] {
  const seen: string[] = []
  const prepare = store.db.prepare.bind(store.db)
  store.db.prepare = ((sql: string) => {
    seen.push(sql)
    return prepare(sql)
  }) as typeof store.db.prepare
  return seen
}

/** SQLite's plan for a statement, every parameter bound to 1 (not recorded by recordStatements). */
function planOf(store: SqliteStore, sql: string): string {
  const prepare = Database.prototype.prepare.bind(store.db) as Database.Database['prepare']
  return (prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...sql.split('?').slice(1).map(() => 1)) as { detail: string }[]).map((r) => r.detail).join('; ')
}

describe('SqliteStore usage counts', () => {
  it('answers every count from an index, never by scanning the sessions table', async () => {
    const store = new SqliteStore(':memory:')
    const seen = recordStatements(store)
    await store.keyUsage(0)
    await store.topOpenUsers(10)
    await store.topOpenUsers(10, { users: ['team-*'], pools: ['alpha'] })
    await store.endedByReason({ since: 0, bucketMs: 3_600_000, buckets: 24, scope: { users: ['ada'], pools: null } })
    const plans = seen.map((sql) => planOf(store, sql))
    expect(plans).toHaveLength(5)
    for (const plan of plans) expect(plan).not.toMatch(/SCAN sessions(?! USING)/)
    const [openByKey, createdByKey, openByUser, openInScope, ended] = plans
    expect(openByKey).toMatch(/INDEX sessions_open_key/)
    expect(createdByKey).toMatch(/INDEX sessions_newest \(created_at>\?\)/)
    expect(openByUser).toMatch(/INDEX sessions_open_user/)
    expect(openInScope).toMatch(/USING (COVERING )?INDEX sessions_/)
    expect(ended).toMatch(/INDEX sessions_ended_at \(ended_at>\? AND ended_at<\?\)/)
    await store.close()
  })

  it('counts open sessions for a quota, lists open ones and purges ended ones through partial indexes', async () => {
    const store = new SqliteStore(':memory:')
    const seen = recordStatements(store)
    await store.listSessions({ state: 'running', limit: 10 })
    const plan = (sql: string) => planOf(store, sql)
    // the statements as admission.ts, session-list.ts and the purge run them
    expect(plan(OPEN_BY_USER_SQL)).toMatch(/INDEX sessions_open_user/)
    expect(plan(OPEN_BY_KEY_SQL)).toMatch(/INDEX sessions_open_key/)
    expect(seen).toHaveLength(1)
    expect(plan(seen[0]!)).toMatch(/INDEX sessions_open\b/)
    expect(plan(seen[0]!)).not.toMatch(/TEMP B-TREE/)
    expect(plan('DELETE FROM sessions WHERE ended_at < ?')).toMatch(/INDEX sessions_ended_at/)
    await store.close()
  })
})
