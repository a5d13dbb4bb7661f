import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadGatewayConfig } from './load.ts'

const dir = mkdtempSync(join(tmpdir(), 'infra-lab-config-'))
const file = (name: string, content: unknown) => {
  const p = join(dir, name)
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content))
  return p
}

describe('loadGatewayConfig', () => {
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
})
