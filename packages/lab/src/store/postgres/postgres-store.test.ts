import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { postgresSkipReason, startPostgres, type PgServer } from '../../bench/postgres-server.ts'
import { poolSpecSchema } from '../../spec/pool-spec.ts'
import type { SandboxHandle } from '../../spec/sandbox-handle.ts'
import { runStoreContract } from '../contract.ts'
import { StoreUnavailableError } from '../errors.ts'
import { QuotaRefused, type NewSession, type Store } from '../types.ts'
import { openStore as openChosenStore } from '../open.ts'
import { migrate, MIGRATIONS } from './migrations.ts'
import { PostgresStore, type PostgresStoreOptions } from './postgres-store.ts'

const skip = postgresSkipReason()

const handle = (id: string): SandboxHandle => ({ id, pool: 'alpha', driver: 'fake', createdAt: 1, address: { kind: 'unix', path: `/tmp/${id}.sock` }, meta: {} })
const session = (id: string, extra: Partial<NewSession> = {}): NewSession => ({ id, user: 'ada', pool: 'alpha', createdAt: 100, envNames: [], ...extra })

async function fillWarm(store: Store, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const id = `sb-${String(i).padStart(4, '0')}`
    await store.insertSandbox({ id, pool: 'alpha', createdAt: i })
    await store.markSandboxWarm(id, handle(id), i)
  }
}

describe.skipIf(skip !== undefined)(`PostgresStore on a throwaway server${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let server: PgServer
  let schemas = 0
  const opened: Store[] = []
  /** A store on a schema of its own in database `lab` (a fresh schema unless `schema` is given). */
  const openStore = async (schema?: string, o: Partial<PostgresStoreOptions> = {}) => {
    const s = await PostgresStore.open({ url: server.url('lab', schema ?? (await newSchema())), poolSize: 4, ...o })
    opened.push(s)
    return s
  }
  const newSchema = async () => {
    const name = `t${++schemas}`
    await server.psql('lab', `CREATE SCHEMA ${name}`)
    return name
  }

  beforeAll(async () => {
    server = await startPostgres()
    await server.createDatabase('lab')
  })
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close()
  })
  afterAll(async () => {
    await server?.remove()
  })

  runStoreContract('postgres', () => openStore())

  it('is what store/open.ts opens for a postgres:// URL (the gateway\'s choice), with the pool size asked for', async () => {
    const store = await openChosenStore('/nonexistent-data-dir', { url: server.url('lab', await newSchema()), poolSize: 3 })
    opened.push(store)
    expect(store).toBeInstanceOf(PostgresStore)
    expect((store as PostgresStore).db.pool.options.max).toBe(3)
    await store.upsertPool(poolSpecSchema.parse({ name: 'alpha', driver: 'fake' }), 1)
    expect((await store.listPools()).map((p) => p.name)).toEqual(['alpha'])
  })

  it('never hands one sandbox to two claims: 200 claims from 20 callers over two stores (two pools, like two replicas)', async () => {
    const schema = await newSchema()
    const a = await openStore(schema)
    const b = await openStore(schema)
    await fillWarm(a, 200)
    let n = 0
    const caller = async (store: Store) => {
      const got: string[] = []
      for (;;) {
        const c = await store.claimWarm('alpha', session(`s-${n++}`), 500)
        if (!c) return got
        got.push(c.sandbox.id)
      }
    }
    const lists = await Promise.all(Array.from({ length: 20 }, (_, i) => caller(i % 2 === 0 ? a : b)))
    const all = lists.flat()
    expect(all).toHaveLength(200)
    expect(new Set(all).size).toBe(200)
    expect(lists.filter((l, i) => i % 2 === 1).flat().length).toBeGreaterThan(0) // both stores claimed
    expect(await b.countSandboxes('alpha')).toEqual({ starting: 0, warm: 0, claimed: 200, destroying: 0 })
    // what a real client sees: 200 claimed sandboxes, each bound to its own session
    const out = await server.psql('lab', `SELECT COUNT(*), COUNT(DISTINCT session_id) FROM ${schema}.sandboxes WHERE state = 'claimed'`)
    expect(out.trim()).toBe('200|200')
  })

  it('admits exactly a quota across two stores: 40 parallel creates of one user, at most 5 open', async () => {
    const schema = await newSchema()
    const a = await openStore(schema)
    const b = await openStore(schema)
    await fillWarm(a, 40)
    const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) =>
      (i % 2 === 0 ? a : b).claimWarm('alpha', session(`s-${i}`, { keyId: 'key-1', admission: { maxSessionsPerUser: 5, createsPerMin: 1000 } }), 500)))
    expect(results.filter((r) => r.status === 'fulfilled' && r.value !== undefined)).toHaveLength(5)
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    expect(refused).toHaveLength(35)
    for (const r of refused) expect(r.reason).toBeInstanceOf(QuotaRefused)
    expect(await a.countOpenSessions({ user: 'ada' })).toBe(5)
    expect(await b.countSandboxes('alpha')).toMatchObject({ warm: 35, claimed: 5 })
  })

  it("takes a key's creates from one token bucket across two stores", async () => {
    const schema = await newSchema()
    const a = await openStore(schema)
    const b = await openStore(schema)
    await fillWarm(a, 20)
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) =>
      (i % 2 === 0 ? a : b).claimWarm('alpha', session(`s-${i}`, { user: `u${i}`, keyId: 'key-1', admission: { createsPerMin: 3 } }), 500)))
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3)
    expect(results.filter((r) => r.status === 'rejected' && (r.reason as QuotaRefused).kind === 'rate_limited')).toHaveLength(17)
  })

  it('tells a store\'s watchers about events another store appended (LISTEN/NOTIFY), once per commit', async () => {
    const schema = await newSchema()
    const a = await openStore(schema)
    const b = await openStore(schema)
    let told = 0
    a.watchEvents(() => told++)
    await (a as PostgresStore).listening
    for (let i = 0; i < 3; i++) await b.appendEvent({ at: i, type: 'pool.status', pool: 'alpha', user: null, sessionId: null, data: {} })
    await fillWarm(b, 1)
    await b.claimWarm('alpha', session('s-1'), 5)
    await vi.waitFor(() => expect(told).toBe(4), { timeout: 5000 })
    expect((await a.listEvents(0, 10)).map((e) => e.type)).toEqual(['pool.status', 'pool.status', 'pool.status', 'session.created'])
  })

  it('hears other stores\' events only while it wants them, and is told once when it starts wanting them again', async () => {
    const schema = await newSchema()
    const a = await openStore(schema)
    const b = await openStore(schema)
    let wanted = false
    let told = 0
    a.setEventDemand(() => wanted)
    a.watchEvents(() => told++)
    await (a as PostgresStore).listening
    const event = (at: number) => b.appendEvent({ at, type: 'pool.status', pool: 'alpha', user: null, sessionId: null, data: {} })
    for (let i = 0; i < 3; i++) await event(i)
    await new Promise((r) => setTimeout(r, 300))
    expect(told).toBe(0)
    wanted = true
    await vi.waitFor(() => expect(told).toBe(1), { timeout: 5000 }) // the catch-up call
    await event(3)
    await vi.waitFor(() => expect(told).toBe(2), { timeout: 5000 })
    wanted = false
    await new Promise((r) => setTimeout(r, 300))
    await event(4)
    await new Promise((r) => setTimeout(r, 300))
    expect(told).toBe(2)
  })

  it('writes what a real psql client reads: sessions, labels, events and the audit log', async () => {
    const schema = await newSchema()
    const store = await openStore(schema)
    await fillWarm(store, 1)
    await store.claimWarm('alpha', session('s-psql', { user: 'grace', labels: { team: 'infra' }, actor: 'ci' }), 700)
    await store.endSession('s-psql', 'exited', 800)
    const q = (sql: string) => server.psql('lab', `SET search_path = ${schema}; ${sql}`)
    expect((await q(`SELECT id, "user", state, warm, ended_reason, labels->>'team' FROM sessions`)).trim()).toBe('s-psql|grace|ended|t|exited|infra')
    expect((await q('SELECT key, value FROM session_labels')).trim()).toBe('team|infra')
    expect((await q('SELECT id, type FROM events ORDER BY id')).trim().split('\n')).toEqual(['1|session.created', '2|session.ended'])
    expect((await q('SELECT actor, action, target FROM audit ORDER BY id')).trim().split('\n')).toEqual(['ci|session.create|s-psql', 'system|session.end|s-psql'])
    expect((await q('SELECT last_event_id FROM log_sequence')).trim()).toBe('2')
  })

  describe('migrations', () => {
    it('migrates an empty database once when two stores open it at once', async () => {
      const schema = await newSchema()
      const [a, b] = await Promise.all([openStore(schema), openStore(schema)]) as PostgresStore[]
      expect([a!.migration.applied, b!.migration.applied].sort()).toEqual([0, MIGRATIONS.length])
      expect(a!.migration.version).toBe(MIGRATIONS.length)
      expect(b!.migration.version).toBe(MIGRATIONS.length)
      const rows = await server.psql('lab', `SELECT version, compatible_from FROM ${schema}.schema_migrations ORDER BY version`)
      expect(rows.trim().split('\n')).toEqual(MIGRATIONS.map((m, i) => `${i + 1}|${m.compatibleFrom}`))
      await fillWarm(a!, 1)
      expect((await b!.getSandbox('sb-0000'))?.state).toBe('warm')
    })

    it("plans the claim functions' statements generically (migration 5), on a new database and on one of the previous release", async () => {
      const fresh = await newSchema()
      await openStore(fresh)
      const old = await newSchema()
      expect(await migrate({ url: server.url('lab', old), poolSize: 1, connectTimeoutMs: 5000, queryTimeoutMs: 5000 }, MIGRATIONS.slice(0, 4))).toEqual({ version: 4, applied: 4 })
      const settings = (schema: string) => server.psql('lab', `SELECT proname, array_to_string(proconfig, ',') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = '${schema}' AND proname LIKE 'lab\\_%' ORDER BY proname`)
      expect((await settings(old)).trim().split('\n')).toEqual(['lab_claim_v1|', 'lab_insert_sandbox_v1|'])
      await openStore(old)
      for (const schema of [fresh, old]) {
        expect((await settings(schema)).trim().split('\n')).toEqual(['lab_claim_v1', 'lab_insert_sandbox_v1', 'lab_mark_running_v1'].map((f) => `${f}|plan_cache_mode=force_generic_plan`))
      }
    })

    it('upgrades a database of the previous release (schema 2) to the claim function, keeping its rows', async () => {
      const schema = await newSchema()
      const url = server.url('lab', schema)
      expect(await migrate({ url, poolSize: 1, connectTimeoutMs: 5000, queryTimeoutMs: 5000 }, MIGRATIONS.slice(0, 2))).toEqual({ version: 2, applied: 2 })
      await server.psql('lab', `INSERT INTO ${schema}.sandboxes (id, pool, state, created_at, handle) VALUES ('sb-old', 'alpha', 'warm', 1, '{"kind":"fake"}')`)
      const store = await openStore(schema)
      expect(store.migration).toEqual({ version: MIGRATIONS.length, applied: MIGRATIONS.length - 2 })
      const c = await store.claimWarm('alpha', session('s-1'), 5)
      expect(c?.sandbox).toMatchObject({ id: 'sb-old', state: 'claimed', sessionId: 's-1', claimedAt: 5 })
      expect(await store.getSession('s-1')).toEqual(c!.session)
    })

    it("runs against a newer schema that says this build's still works (a rolling upgrade), and refuses one that does not", async () => {
      const schema = await newSchema()
      const first = await openStore(schema)
      await first.insertSandbox({ id: 'sb-1', pool: 'alpha', createdAt: 1 })
      const next = MIGRATIONS.length + 1
      await server.psql('lab', `INSERT INTO ${schema}.schema_migrations VALUES (${next}, 0, ${MIGRATIONS.length})`)
      const older = await openStore(schema)
      expect(older.migration).toEqual({ version: next, applied: 0 })
      expect((await older.getSandbox('sb-1'))?.state).toBe('starting')
      await server.psql('lab', `UPDATE ${schema}.schema_migrations SET compatible_from = ${next} WHERE version = ${next}`)
      await expect(openStore(schema)).rejects.toThrow(/needs code of schema .* upgrade infra-lab/)
    })
    it("keeps working while a newer replica's migration adds columns under its prepared statements", async () => {
      const schema = await newSchema()
      const store = await openStore(schema)
      await fillWarm(store, 2)
      await store.insertKey({ id: 'key-1', name: 'ci', secretHash: 'h1', users: null, pools: null, maxSessions: null, createsPerMin: null, expiresAt: null, createdAt: 1 })
      const calls = async (i: number) => {
        const c = await store.claimWarm('alpha', session(`s-${i}`, { attachToken: { tokenHash: `t-${i}`, expiresAt: 9 } }), 5)
        expect(c).toBeDefined()
        expect(await store.getSession(`s-${i}`)).toEqual(c!.session)
        expect(await store.getSandbox(c!.sandbox.id)).toEqual(c!.sandbox)
        expect((await store.getKeyBySecretHash('h1'))?.id).toBe('key-1')
        expect((await store.getAttachToken(`t-${i}`))?.sessionId).toBe(`s-${i}`)
      }
      await calls(1) // every statement prepared on the pool's connections
      for (const table of ['sessions', 'sandboxes', 'api_keys', 'attach_tokens']) {
        await server.psql('lab', `ALTER TABLE ${schema}.${table} ADD COLUMN added_later TEXT`)
      }
      await calls(2)
    })
    it("reads back a pool spec a newer replica wrote with a field this build does not know, without the field", async () => {
      const schema = await newSchema()
      const store = await openStore(schema)
      const spec = poolSpecSchema.parse({ name: 'alpha', driver: 'fake', maxSize: 8 })
      await store.upsertPool(spec, 1)
      await server.psql('lab', `UPDATE ${schema}.pools SET spec = spec || '{"addedLater": 1}'::jsonb || jsonb_build_object('limits', (spec->'limits') || '{"gpus": 2}'::jsonb)`)
      expect(await server.psql('lab', `SELECT spec->>'addedLater' FROM ${schema}.pools`)).toContain('1')
      expect(await store.getPool('alpha')).toEqual(spec)
      expect(await store.listPools()).toEqual([spec])
    })
  })

  describe('outage', () => {
    it('throws StoreUnavailableError while the server is down, and works again once it is back, without being reopened', async () => {
      const schema = await newSchema()
      const store = await openStore(schema, { connectTimeoutMs: 2000, queryTimeoutMs: 3000 })
      const other = await openStore(schema)
      await fillWarm(store, 2)
      let told = 0
      store.watchEvents(() => told++)
      await (store as PostgresStore).listening
      await server.stop()
      try {
        await expect(store.getSandbox('sb-0000')).rejects.toBeInstanceOf(StoreUnavailableError)
        await expect(store.claimWarm('alpha', session('s-down'), 5)).rejects.toBeInstanceOf(StoreUnavailableError)
        await expect(store.appendEvent({ at: 1, type: 'pool.status', pool: null, user: null, sessionId: null, data: {} })).rejects.toBeInstanceOf(StoreUnavailableError)
        await expect(store.listSessions()).rejects.toThrow(/database cannot be reached/)
      } finally {
        await server.start()
      }
      const claimed = await store.claimWarm('alpha', session('s-up'), 6)
      expect(claimed?.sandbox.id).toBe('sb-0000')
      expect(await store.countSandboxes('alpha')).toMatchObject({ warm: 1, claimed: 1 })
      // the listening connection is back too: another store's event reaches this one's watchers
      await vi.waitFor(async () => {
        const before = told
        await other.appendEvent({ at: 2, type: 'pool.status', pool: null, user: null, sessionId: null, data: {} })
        await vi.waitFor(() => expect(told).toBeGreaterThan(before), { timeout: 500 })
      }, { timeout: 15_000, interval: 200 })
    })

    it('gives up on a server that accepts no connection after the connect timeout instead of hanging', async () => {
      const store = await openStore(undefined, { connectTimeoutMs: 500 })
      await store.getPool('alpha') // a connection now open in the pool, then closed by the server's stop
      await server.stop()
      await server.start()
      // a stopped postmaster: the kernel queues connections, nobody answers them
      const pid = Number(readFileSync(join(server.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0])
      process.kill(pid, 'SIGSTOP')
      try {
        await expect(store.getPool('alpha')).rejects.toBeInstanceOf(StoreUnavailableError)
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      expect(await store.getPool('alpha')).toBeUndefined()
    })
  })
})

