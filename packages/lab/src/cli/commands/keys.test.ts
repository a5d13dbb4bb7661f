import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../../drivers/fake/fake-driver.ts'
import { startTestGateway, TEST_KEY, waitFor } from '../../gateway/test-gateway.test-util.ts'
import { runCli } from '../run-cli.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

// `infra-lab keys`, `audit` and `sessions ls --label/--limit` from argv to a real gateway (fake
// driver): what a person types, what they read, and the exit status.
describe('infra-lab keys, audit and sessions ls against a gateway', () => {
  let gw: Gw

  /** Runs argv through the CLI's own program with the key `key` (default: the admin key). */
  const cli = (argv: string[], key = TEST_KEY) => runCli(argv, { env: { INFRA_LAB_URL: gw.url, INFRA_LAB_API_KEY: key } })

  beforeAll(async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 8 }] })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2, 5000, 'pool to fill')
  })
  afterAll(async () => {
    await gw?.cleanup()
  })

  it('creates a key, printing its id and secret once with a warning, and lists it without the secret', async () => {
    const r = await cli(['keys', 'create', '--name', 'ci', '--users', 'ci-*,bot', '--pools', 'default', '--max-sessions', '5', '--creates-per-min', '10', '--expires-at', '2099-01-31'])
    expect(r.code).toBe(0)
    const [, id, secret] = /^created key (key-[a-z0-9]+) \(ci\)\nsecret: (ilk_\S+)\n$/.exec(r.stdout) ?? []
    expect(id).toBeDefined()
    expect(r.stderr).toMatch(/not shown again/)
    const key = await gw.store.getKey(id!)
    expect(key).toMatchObject({ name: 'ci', users: ['ci-*', 'bot'], pools: ['default'], maxSessions: 5, createsPerMin: 10, expiresAt: Date.UTC(2099, 0, 31) })

    const ls = await cli(['keys', 'ls'])
    expect(ls.code).toBe(0)
    const [header, row] = ls.stdout.trimEnd().split('\n')
    expect(header!.split(/\s+/)).toEqual(['ID', 'NAME', 'USERS', 'POOLS', 'LIMITS', 'OPEN', 'CREATED', 'EXPIRES', 'REVOKED'])
    expect(row).toMatch(new RegExp(`^${id} +ci +ci-\\*,bot +default +5 sessions, 10/min +0 +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d +2099-01-31 00:00 +-$`))
    expect(ls.stdout).not.toContain(secret)
    const json = JSON.parse((await cli(['keys', 'ls', '--json'])).stdout)
    expect(json.keys.find((k: { id: string }) => k.id === id)).toMatchObject({ name: 'ci', openSessions: 0 })
  })

  it('rotates (the new secret works, the old one no longer) and revokes', async () => {
    const created = JSON.parse((await cli(['keys', 'create', '--name', 'rot', '--json'])).stdout)
    expect(created).toMatchObject({ id: expect.any(String), name: 'rot', key: expect.stringMatching(/^ilk_/) })
    const rotated = JSON.parse((await cli(['keys', 'rotate', created.id, '--json'])).stdout)
    expect(rotated.key).not.toBe(created.key)
    expect((await cli(['sessions', 'ls'], created.key)).code).toBe(1)
    expect((await cli(['sessions', 'ls'], rotated.key)).code).toBe(0)
    const human = await cli(['keys', 'rotate', created.id])
    const [, latest] = new RegExp(`^rotated key ${created.id} \\(rot\\)\\nsecret: (ilk_\\S+)\\n$`).exec(human.stdout) ?? []
    expect(latest).toBeDefined()
    expect((await cli(['sessions', 'ls'], latest)).code).toBe(0)
    const revoked = await cli(['keys', 'revoke', created.id])
    expect(revoked).toMatchObject({ code: 0, stdout: `key ${created.id} revoked (its sessions keep running: infra-lab sessions kill ends one)\n` })
    const denied = await cli(['sessions', 'ls'], latest)
    expect(denied.code).toBe(1)
    expect(denied.stderr).toMatch(/revoked/)
    // a revoked key gets no new secret
    expect((await cli(['keys', 'rotate', created.id])).stderr).toMatch(/revoked: create a new one/)
  })

  it('says clearly what is wrong: a scoped key, an unknown id, a bad flag', async () => {
    const scoped = JSON.parse((await cli(['keys', 'create', '--name', 'plain', '--json'])).stdout).key
    const forbidden = await cli(['keys', 'ls'], scoped)
    expect(forbidden.code).toBe(1)
    expect(forbidden.stderr).toMatch(/^infra-lab keys ls: .*admin/)
    expect((await cli(['audit'], scoped)).stderr).toMatch(/^infra-lab audit: .*admin/)
    const unknown = await cli(['keys', 'revoke', 'key-nosuchkey'])
    expect(unknown).toMatchObject({ code: 1, stderr: 'infra-lab keys revoke: no key with id key-nosuchkey\n' })
    expect((await cli(['keys', 'rotate', 'nope'])).stderr).toMatch(/^infra-lab keys rotate: .*id/)
    expect(await cli(['keys', 'create', '--name', 'x', '--users', ' , '])).toMatchObject({ code: 2, stderr: 'infra-lab keys create: --users names none; leave it out for all\n' })
    expect((await cli(['keys', 'create', '--name', 'x', '--expires-at', 'someday'])).code).toBe(2)
    expect((await cli(['keys', 'create', '--name', 'x', '--expires-at', '2001-01-01'])).stderr).toMatch(/expiresAt: is in the past/)
    expect((await cli(['keys', 'create', '--name', 'bad name'])).stderr).toMatch(/name/)
    expect((await cli(['keys', 'create'])).stderr).toMatch(/required option '--name <name>' not specified/)
    expect((await cli(['keys', 'create', '--name', 'x', '--max-sessions', '0'])).stderr).toMatch(/--max-sessions must be an integer from 1 to 100000/)
    expect((await cli(['sessions', 'ls', '--label', 'novalue'])).code).toBe(2)
  })

  it('lists sessions by label, a page at a time, with the next cursor', async () => {
    const ids: string[] = []
    for (const [i, team] of ['red', 'blue', 'red'].entries()) {
      const labels = { team, ...(i === 0 ? { tier: 'gold' } : {}) }
      const res = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, payload: { user: `u-${team}`, labels } })
      ids.push(res.json().id)
    }
    const red = await cli(['sessions', 'ls', '--label', 'team=red', '--json'])
    expect(JSON.parse(red.stdout).sessions.map((s: { id: string }) => s.id)).toEqual([ids[2], ids[0]])
    const gold = JSON.parse((await cli(['sessions', 'ls', '--label', 'team=red', '--label', 'tier=gold', '--json'])).stdout)
    expect(gold.sessions.map((s: { id: string }) => s.id)).toEqual([ids[0]])
    const twice = await cli(['sessions', 'ls', '--label', 'team=red', '--label', 'team=blue'])
    expect(twice).toMatchObject({ code: 2, stderr: 'infra-lab sessions ls: --label team is given twice\n' })
    const page = await cli(['sessions', 'ls', '--label', 'team=red', '--limit', '1'])
    expect(page.stdout.trimEnd().split('\n')).toHaveLength(2)
    expect(page.stdout).toContain(ids[2])
    const cursor = /--cursor (\S+)/.exec(page.stderr)?.[1]
    expect(cursor).toBeDefined()
    const next = await cli(['sessions', 'ls', '--label', 'team=red', '--limit', '1', '--cursor', cursor!])
    expect(next.stdout).toContain(ids[0])
    expect((await cli(['sessions', 'ls', '--cursor', 'garbage'])).stderr).toMatch(/cursor/)
  })

  it('prints the audit log from a time, a page at a time', async () => {
    const since = new Date().toISOString()
    const created = JSON.parse((await cli(['keys', 'create', '--name', 'audited', '--json'])).stdout)
    await cli(['keys', 'revoke', created.id])
    const r = await cli(['audit', '--since', since])
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]!.split(/\s+/)).toEqual(['AT', 'ACTOR', 'ACTION', 'TARGET', 'DETAILS'])
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(2, 5))).toEqual([['admin', 'key.create', created.id], ['admin', 'key.revoke', created.id]])
    const first = await cli(['audit', '--since', since, '--limit', '1'])
    expect(first.stdout.trimEnd().split('\n')).toHaveLength(2)
    expect(first.stderr).toMatch(/^more entries: infra-lab audit --cursor \S+\n$/)
    const json = JSON.parse((await cli(['audit', '--since', since, '--json'])).stdout)
    expect(json.entries.map((e: { action: string }) => e.action)).toEqual(['key.create', 'key.revoke'])
    expect((await cli(['audit', '--since', 'yesterday-ish'])).code).toBe(2)
  })
})
