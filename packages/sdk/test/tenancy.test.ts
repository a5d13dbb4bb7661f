import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeDriver } from '../../lab/src/drivers/fake/fake-driver.ts'
import { TEST_KEY, startTestGateway, waitFor } from '../../lab/src/gateway/test-gateway.test-util.ts'
import { ForbiddenError, InfraLab, SessionNotFoundError, UnauthorizedError, type AuditEntry, type Session } from '../src/index.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of items) out.push(x)
  return out
}

describe('InfraLab keys, audit, labels and paging (fake driver)', () => {
  let gw: Gw
  let lab: InfraLab

  beforeEach(async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 8 }] })
    lab = new InfraLab({ url: gw.url, apiKey: TEST_KEY })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2)
  })
  afterEach(async () => {
    await gw.cleanup()
  })

  it('creates a scoped key whose secret works once shown, lists it without the secret, rotates and revokes it', async () => {
    const created = await lab.keys.create({ name: 'ci', users: ['ci-*'], maxSessions: 2 })
    expect(created).toMatchObject({ id: expect.stringMatching(/^key-/), name: 'ci', key: expect.stringMatching(/^ilk_/) })
    const ci = new InfraLab({ url: gw.url, apiKey: created.key })
    const s = await ci.sessions.create({ user: 'ci-1' })
    const [listed] = await lab.keys.list()
    expect(listed).toMatchObject({ id: created.id, name: 'ci', users: ['ci-*'], maxSessions: 2, openSessions: 1 })
    expect(JSON.stringify(listed)).not.toContain(created.key)

    // a scoped key is no admin, and does not see what it does not cover
    await expect(ci.keys.list()).rejects.toBeInstanceOf(ForbiddenError)
    await expect(ci.audit()).rejects.toBeInstanceOf(ForbiddenError)
    const other = await lab.sessions.create({ user: 'bob' })
    await expect(ci.sessions.get(other.id)).rejects.toBeInstanceOf(SessionNotFoundError)
    expect((await ci.sessions.list()).map((x) => x.id)).toEqual([s.id])

    const rotated = await lab.keys.rotate(created.id)
    expect(rotated).toMatchObject({ id: created.id, name: 'ci' })
    expect(rotated.key).not.toBe(created.key)
    await expect(ci.sessions.list()).rejects.toBeInstanceOf(UnauthorizedError)
    const again = new InfraLab({ url: gw.url, apiKey: rotated.key })
    expect((await again.sessions.list()).map((x) => x.id)).toEqual([s.id])

    await lab.keys.revoke(created.id)
    await lab.keys.revoke(created.id) // twice is fine
    await expect(again.sessions.list()).rejects.toBeInstanceOf(UnauthorizedError)
    expect((await lab.keys.list())[0]!.revokedAt).toEqual(expect.any(String))
  })

  it('creates sessions with labels and timeouts, filters by labels (all of them) and pages newest first', async () => {
    const made: Session[] = []
    for (const [i, team] of ['a', 'a', 'b', 'a'].entries()) {
      made.push(await lab.sessions.create({ user: `u${i}`, labels: { team, ...(i === 3 ? { tier: 'gold' } : {}) }, timeoutS: 600, idleTimeoutS: 60 }))
    }
    expect(made[0]!.info.labels).toEqual({ team: 'a' })
    const ids = (list: Session[]) => list.map((s) => s.id)
    const newestFirst = ids(made).reverse()
    expect(ids(await lab.sessions.list({ labels: { team: 'a' } }))).toEqual(newestFirst.filter((id) => id !== made[2]!.id))
    expect(ids(await lab.sessions.list({ labels: { team: 'a', tier: 'gold' } }))).toEqual([made[3]!.id])

    const first = await lab.sessions.list({ limit: 3 })
    expect(ids(first)).toEqual(newestFirst.slice(0, 3))
    expect(first.nextCursor).toEqual(expect.any(String))
    const second = await lab.sessions.list({ limit: 3, cursor: first.nextCursor! })
    expect(ids(second)).toEqual(newestFirst.slice(3))
    expect(second.nextCursor).toBeUndefined()
    expect(ids(await all(lab.sessions.iterate({ limit: 1 })))).toEqual(newestFirst)
    expect(ids(await all(lab.sessions.iterate({ limit: 2, labels: { team: 'a' } })))).toHaveLength(3)
  })

  it('reads the audit log a page at a time, from a time given as a Date or a string', async () => {
    const start = new Date()
    const key = await lab.keys.create({ name: 'auditor' })
    const s = await lab.sessions.create({ user: 'alice' })
    await s.end()
    const page = await lab.audit({ since: start, limit: 2 })
    expect(page.entries.map((e) => e.action)).toEqual(['key.create', 'session.create'])
    expect(page.nextCursor).toEqual(expect.any(String))
    const entries: AuditEntry[] = await all(lab.auditEntries({ since: start.toISOString(), limit: 1 }))
    expect(entries.map((e) => [e.action, e.target, e.actor])).toEqual([
      ['key.create', key.id, 'admin'], ['session.create', s.id, 'admin'], ['session.end', s.id, 'admin'],
    ])
    expect((await lab.audit({ since: new Date(Date.now() + 60_000) })).entries).toEqual([])
  })

  it('types the stats of the caller', async () => {
    const stats = await lab.stats()
    expect(stats.caller).toEqual({ name: 'admin', admin: true })
    expect(stats.quotas.maxSessionsPerUser).toBe(10)
    expect(stats.endedReasons.t).toHaveLength(24)
  })
})
