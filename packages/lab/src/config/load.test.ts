import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DEFAULT_WORKSPACE_QUOTA_BYTES as DRIVER_DEFAULT_QUOTA, MIN_WORKSPACE_QUOTA_BYTES as DRIVER_MIN_QUOTA } from '../drivers/host/resources.ts'
import { loadGatewayConfig } from './load.ts'
import { DEFAULT_WORKSPACE_QUOTA_BYTES, MIN_WORKSPACE_QUOTA_BYTES } from './schema.ts'

const dir = mkdtempSync(join(tmpdir(), 'infra-lab-config-'))
const file = (name: string, content: unknown) => {
  const p = join(dir, name)
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content))
  return p
}

describe('loadGatewayConfig', () => {
  it('names the replica: --replica-id > INFRA_LAB_REPLICA_ID > file > host-pid-random, and renews leases every 2 s unless told', () => {
    const cfg = file('replica.json', { replicaId: 'from-file', leaseRenewMs: 500 })
    const pick = (flags: Record<string, string>, env: Record<string, string>) => {
      const r = loadGatewayConfig({ config: cfg, ...flags }, env, dir)
      return r.ok ? [r.config.replicaId, r.config.leaseRenewMs] : r.errors
    }
    expect(pick({ replicaId: 'gw-1' }, { INFRA_LAB_REPLICA_ID: 'gw-env' })).toEqual(['gw-1', 500])
    expect(pick({}, { INFRA_LAB_REPLICA_ID: 'gw-env' })).toEqual(['gw-env', 500])
    expect(pick({}, {})).toEqual(['from-file', 500])
    const d = loadGatewayConfig({}, {}, dir)
    expect(d.ok && d.config.leaseRenewMs).toBe(2000)
    expect(d.ok && d.config.replicaId).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{6}$`))
    const again = loadGatewayConfig({}, {}, dir)
    expect(again.ok && d.ok && again.config.replicaId !== d.config.replicaId).toBe(true)
    const bad = loadGatewayConfig({ replicaId: 'a b/c' }, {}, dir)
    expect(bad.ok ? [] : bad.errors).toEqual([expect.stringMatching(/^replicaId: must be 1 to 128 letters/)])
  })

  it('has sane defaults: 127.0.0.1:8080, data dir in cwd, one default pool', () => {
    const r = loadGatewayConfig({}, {}, '/srv/x')
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.config).toMatchObject({ host: '127.0.0.1', port: 8080, dataDir: '/srv/x/.infra-lab', workspacesDir: '/srv/x/.infra-lab/workspaces', attachTokenTtlS: 300 })
    expect(r.config.pools).toHaveLength(1)
    expect(r.config.pools[0]).toMatchObject({ name: 'default', driver: 'local', policy: { kind: 'fixed', size: 4 } })
    expect(Object.isFrozen(r.config) && Object.isFrozen(r.config.pools[0])).toBe(true)
  })

  it('takes flag over env over file', () => {
    const cfg = file('prec.json', { port: 1111, host: '127.0.0.2', logLevel: 'debug' })
    const r = loadGatewayConfig({ config: cfg, port: 3333 }, { INFRA_LAB_PORT: '2222', INFRA_LAB_HOST: '127.0.0.3' }, dir)
    expect(r.ok && r.config.port).toBe(3333)
    expect(r.ok && r.config.host).toBe('127.0.0.3')
    expect(r.ok && r.config.logLevel).toBe('debug')
  })

  it('--pool-size N means a fixed policy of N on the default pool, raising maxSize if needed', () => {
    const r = loadGatewayConfig({ poolSize: 100 }, {}, dir)
    expect(r.ok && r.config.pools[0]).toMatchObject({ policy: { kind: 'fixed', size: 100 }, maxSize: 100 })
    const zero = loadGatewayConfig({ poolSize: 0 }, {}, dir)
    expect(zero.ok && zero.config.pools[0]?.policy).toEqual({ kind: 'fixed', size: 0 })
  })

  it('returns every error at once, naming the field', () => {
    const cfg = file('bad.json', { port: 'eighty', colour: 'red', pools: [{ name: 'Bad Name' }, { name: 'ok', policy: { kind: 'erlang', targetMissRate: 2 } }] })
    const r = loadGatewayConfig({ config: cfg }, {}, dir)
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors.join('\n')).toMatch(/port/)
    expect(r.errors.join('\n')).toMatch(/unknown option\(s\) colour/)
  })

  it('checks pools: names, duplicates, and cross-field rules', () => {
    const cfg = file('pools.json', { pools: [{ name: 'a', minSize: 5, maxSize: 2 }, { name: 'b', policy: { kind: 'erlang', targetMissRate: 2 } }, { name: 'b' }] })
    const r = loadGatewayConfig({ config: cfg }, {}, dir)
    expect(r.ok).toBe(false)
    if (r.ok) return
    const all = r.errors.join('\n')
    expect(all).toContain('pools[0].minSize')
    expect(all).toContain('pools[1].policy.targetMissRate')
    const dup = loadGatewayConfig({ config: file('dup.json', { pools: [{ name: 'b' }, { name: 'b' }] }) }, {}, dir)
    expect(!dup.ok && dup.errors.join('\n')).toContain('"b" is used twice')
  })

  it('reports unreadable or malformed config files', () => {
    const missing = loadGatewayConfig({ config: join(dir, 'nope.json') }, {}, dir)
    expect(!missing.ok && missing.errors[0]).toMatch(/nope\.json/)
    const broken = loadGatewayConfig({ config: file('broken.json', '{"port": ') }, {}, dir)
    expect(broken.ok).toBe(false)
    const array = loadGatewayConfig({ config: file('array.json', [1, 2]) }, {}, dir)
    expect(!array.ok && array.errors[0]).toMatch(/JSON object/)
  })

  it('warns when listening beyond loopback and rejects short API keys', () => {
    const r = loadGatewayConfig({ host: '0.0.0.0' }, {}, dir)
    expect(r.ok && r.warnings[0]).toMatch(/0\.0\.0\.0/)
    const short = loadGatewayConfig({}, { INFRA_LAB_API_KEY: 'short' }, dir)
    expect(!short.ok && short.errors[0]).toMatch(/apiKey/)
  })

  it('takes the workspace quota as a size from flag, env or file; 0 or off turns it off', () => {
    const def = loadGatewayConfig({}, {}, dir)
    expect(def.ok && def.config.workspaceQuotaBytes).toBe(1024 ** 3)
    const cfg = file('quota.json', { workspaceQuotaBytes: 536_870_912 })
    expect(loadGatewayConfig({ config: cfg }, {}, dir)).toMatchObject({ ok: true, config: { workspaceQuotaBytes: 512 * 1024 ** 2 } })
    const fromEnv = loadGatewayConfig({ config: cfg }, { INFRA_LAB_WORKSPACE_QUOTA: '2GiB' }, dir)
    expect(fromEnv.ok && fromEnv.config.workspaceQuotaBytes).toBe(2 * 1024 ** 3)
    const fromFlag = loadGatewayConfig({ config: cfg, workspaceQuota: 'off' }, { INFRA_LAB_WORKSPACE_QUOTA: '2GiB' }, dir)
    expect(fromFlag.ok && fromFlag.config.workspaceQuotaBytes).toBe(0)
    expect(loadGatewayConfig({ config: file('quota-s.json', { workspaceQuotaBytes: '3G' }) }, {}, dir)).toMatchObject({ ok: true, config: { workspaceQuotaBytes: 3 * 1024 ** 3 } })
  })

  it('refuses a workspace quota that is not a size or too small to hold a file system', () => {
    const bad = loadGatewayConfig({ workspaceQuota: '1GB' }, {}, dir)
    expect(!bad.ok && bad.errors.join('\n')).toMatch(/workspaceQuotaBytes: "1GB" is not a size/)
    const small = loadGatewayConfig({}, { INFRA_LAB_WORKSPACE_QUOTA: '1M' }, dir)
    expect(!small.ok && small.errors.join('\n')).toMatch(/workspaceQuotaBytes: must be 0\/off or at least 16 MiB/)
  })

  it('takes the upload limit as a size from flag, env or file (default 1 GiB), and refuses 0, off and non-sizes', () => {
    const def = loadGatewayConfig({}, {}, dir)
    expect(def.ok && def.config.maxUploadBytes).toBe(1024 ** 3)
    const cfg = file('upload.json', { maxUploadBytes: '64M' })
    expect(loadGatewayConfig({ config: cfg }, {}, dir)).toMatchObject({ ok: true, config: { maxUploadBytes: 64 * 1024 ** 2 } })
    expect(loadGatewayConfig({ config: cfg }, { INFRA_LAB_MAX_UPLOAD_BYTES: '2G' }, dir)).toMatchObject({ ok: true, config: { maxUploadBytes: 2 * 1024 ** 3 } })
    expect(loadGatewayConfig({ config: cfg, maxUploadBytes: '1000' }, { INFRA_LAB_MAX_UPLOAD_BYTES: '2G' }, dir)).toMatchObject({ ok: true, config: { maxUploadBytes: 1000 } })
    for (const bad of ['0', 'off', '1GB', 'lots']) {
      const r = loadGatewayConfig({ maxUploadBytes: bad }, {}, dir)
      expect(!r.ok && r.errors.join('\n'), bad).toMatch(/maxUploadBytes: /)
    }
  })

  it('keeps state in SQLite by default, in PostgreSQL given --store or INFRA_LAB_DATABASE_URL (flag first), with the pool size from the file', () => {
    expect(loadGatewayConfig({}, {}, dir)).toMatchObject({ ok: true, config: { store: { poolSize: 10 } } })
    const def = loadGatewayConfig({}, {}, dir)
    expect(def.ok && def.config.store.url).toBeUndefined()
    const cfg = file('store.json', { store: { poolSize: 25 } })
    expect(loadGatewayConfig({ config: cfg }, { INFRA_LAB_DATABASE_URL: 'postgres://lab@db/lab' }, dir))
      .toMatchObject({ ok: true, config: { store: { url: 'postgres://lab@db/lab', poolSize: 25 } } })
    expect(loadGatewayConfig({ store: 'postgresql://a@b/c' }, { INFRA_LAB_DATABASE_URL: 'postgres://lab@db/lab' }, dir))
      .toMatchObject({ ok: true, config: { store: { url: 'postgresql://a@b/c', poolSize: 10 } } })
    const fromFile = loadGatewayConfig({ config: file('store-url.json', { store: { url: 'postgres://f@db/lab' } }) }, {}, dir)
    expect(fromFile.ok && fromFile.config.store.url).toBe('postgres://f@db/lab')
  })

  it('refuses a store URL that is not PostgreSQL, and a bad pool size, without repeating the URL', () => {
    const r = loadGatewayConfig({ store: 'mysql://u:hunter2@db/lab', config: file('pool0.json', { store: { poolSize: 0 } }) }, {}, dir)
    expect(r.ok).toBe(false)
    const all = !r.ok ? r.errors.join('\n') : ''
    expect(all).toMatch(/store\.url: must be a postgres:\/\/ or postgresql:\/\/ URL/)
    expect(all).toMatch(/store\.poolSize/)
    expect(all).not.toContain('hunter2')
    const unknown = loadGatewayConfig({ config: file('store-x.json', { store: { size: 3 } }) }, {}, dir)
    expect(!unknown.ok && unknown.errors.join('\n')).toMatch(/store: unknown option\(s\) size/)
  })

  it('has the same quota default and minimum as the drivers', () => {
    expect(DEFAULT_WORKSPACE_QUOTA_BYTES).toBe(DRIVER_DEFAULT_QUOTA)
    expect(MIN_WORKSPACE_QUOTA_BYTES).toBe(DRIVER_MIN_QUOTA)
  })
})
