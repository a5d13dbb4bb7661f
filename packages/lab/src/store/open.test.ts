import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { describeStore, openStore, redactUrl } from './open.ts'
import { SqliteStore } from './sqlite/sqlite-store.ts'

describe('openStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-open-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('opens SQLite in the data dir when no URL is given', async () => {
    const store = await openStore(dir, { poolSize: 10 })
    expect(store).toBeInstanceOf(SqliteStore)
    expect((store as SqliteStore).path).toBe(join(dir, 'state.db'))
    await store.close()
    expect(describeStore(dir, { poolSize: 10 })).toBe(`SQLite ${join(dir, 'state.db')}`)
  })
})

describe('redactUrl', () => {
  it('never shows a password, in the authority or as a parameter', () => {
    expect(redactUrl('postgres://lab:s3cr%40t@db.internal:5432/lab')).toBe('postgres://lab:***@db.internal:5432/lab')
    expect(redactUrl('postgresql://lab@/lab?host=/run/pg&password=s3cret')).toBe('postgresql://lab@/lab?host=/run/pg&password=***')
    expect(redactUrl('postgres://lab@db/lab')).toBe('postgres://lab@db/lab')
    expect(describeStore('/d', { url: 'postgres://u:pw@h/db', poolSize: 7 })).toBe('PostgreSQL postgres://u:***@h/db (pool 7)')
    expect(redactUrl('postgres://u:p%40ss%2Fw@h/db')).toBe('postgres://u:***@h/db')
    expect(redactUrl('postgres://u:p@ss@h:5432/db')).toBe('postgres://u:***@h:5432/db')
    expect(redactUrl('postgres://lab@/lab?host=%2Frun%2Fpg&password=x&port=5432')).toBe('postgres://lab@/lab?host=%2Frun%2Fpg&password=***&port=5432')
  })
})
