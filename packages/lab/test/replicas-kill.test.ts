// Three gateway processes with the local driver on one PostgreSQL database, sharing one data dir
// (and so one runtime directory, as docs/operations.md "Replicas" says local-driver replicas on
// one host must). The replica holding the pool's lease dies with SIGKILL: another takes the lease
// within two renewal periods and refills the pool, and a session created through the dead replica
// is attached through another one with its scrollback.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgresSkipReason, startPostgres, type PgServer } from '../src/bench/postgres-server.ts'
import { localDriverSkipReason } from '../src/drivers/local/test-support.ts'
import { Term, exited, runCli, runGateway, type RunningGateway } from './gateway-process.test-util.ts'

const skip = postgresSkipReason() ?? localDriverSkipReason()
const RENEW_MS = 200
/**
 * The documented bound is two renewal periods from the death (the lease lasts 1.5 periods from
 * the last renewal, and survivors ask for it four times a period). The takeover is read from the
 * store (the lease's acquired_at, stamped by the new holder), so the test's own /healthz polling
 * adds nothing; one period of margin covers timers firing late on a 2-core machine shared with
 * other work, and still fails a takeover as slow as before leases were tightened (up to four).
 */
const TAKEOVER_BOUND_MS = 3 * RENEW_MS

interface Health { replica: string; leases: string[] }
const health = async (gw: RunningGateway): Promise<Health> => (await fetch(`${gw.url}/healthz`)).json() as Promise<Health>

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

describe.skipIf(skip !== undefined)(`kill -9 of the replica holding the lease, as processes with the local driver${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lab-replicas-kill-'))
  let pg: PgServer
  const gws: RunningGateway[] = []
  beforeAll(async () => {
    pg = await startPostgres()
  })
  afterAll(async () => {
    for (const gw of gws) {
      gw.child.kill('SIGTERM')
      await exited(gw.child)
    }
    // Every replica is gone: the teardown removes every sandbox of the shared runtime directory.
    if (gws.length > 0) await runCli(['gateway', '--config', join(dataDir, 'config.json'), '--data-dir', dataDir, '--teardown'])
    await pg?.remove()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('another replica holds the lease within two renewal periods (plus one of scheduling margin) and refills the pool; the session re-attaches through it with its scrollback', async () => {
    const url = await pg.createDatabase('kill')
    const config = {
      driver: 'local', store: { url, poolSize: 4 }, leaseRenewMs: RENEW_MS,
      pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 6, maxConcurrentCreates: 2 }],
    }
    for (const id of ['r1', 'r2', 'r3']) gws.push(await runGateway(dataDir, config, { INFRA_LAB_REPLICA_ID: id }))
    const holder = await until(async () => {
      const hs = await Promise.all(gws.map(health))
      const holding = hs.filter((h) => h.leases.includes('pool:default'))
      return holding.length === 1 && hs.every((h) => h.leases.length <= 1) ? gws[hs.indexOf(holding[0]!)] : undefined
    }, 'one replica to hold the lease')
    const survivors = gws.filter((g) => g !== holder)
    await until(async () => ((await holder!.client.pool('default')).status.ready >= 2 ? true : undefined), 'the pool to fill')

    // A session through the replica about to die, with something in its scrollback.
    const s = await holder!.client.createSession({ user: 'ada' })
    expect(s.warm).toBe(true)
    const first = await Term.open(holder!.client, s.attach)
    first.type('echo before-$((6*7))\n')
    await first.waitFor((t) => t.output.includes('before-42'), 'output through the first replica')

    holder!.child.kill('SIGKILL')
    const killedAt = Date.now()
    await exited(holder!.child)
    gws.splice(gws.indexOf(holder!), 1)
    const next = await until(async () => {
      const hs = await Promise.all(survivors.map(health))
      const i = hs.findIndex((h) => h.leases.includes('pool:default'))
      return i >= 0 ? survivors[i]! : undefined
    }, 'a survivor to take the lease', 10_000, 20)
    const [holderId, acquiredAt] = (await pg.psql('kill', `SELECT holder, acquired_at FROM leases WHERE name = 'pool:default'`)).trim().split('|')
    expect(holderId).toBe((await health(next)).replica)
    expect(Number(acquiredAt) - killedAt).toBeGreaterThan(0)
    expect(Number(acquiredAt) - killedAt).toBeLessThanOrEqual(TAKEOVER_BOUND_MS)

    // Creates resume: the new holder refills what the claim took, and a claim through the other survivor is served.
    const other = survivors.find((g) => g !== next)!
    const b = await other.client.createSession({ user: 'bob' })
    expect(b.id).not.toBe(s.id)
    await until(async () => {
      const fresh = Number((await pg.psql('kill', `SELECT count(*) FROM sandboxes WHERE state = 'warm' AND created_at > ${killedAt}`)).trim())
      return fresh >= 1 ? true : undefined
    }, 'a sandbox created by the new holder')

    // The first session through a survivor: its scrollback, then live input.
    first.close()
    for (const gw of survivors) {
      const t = await Term.open(gw.client, await gw.client.attach(s.id))
      await t.waitFor((x) => x.output.includes('before-42'), `the scrollback through ${(await health(gw)).replica}`)
      t.close()
    }
    const again = await Term.open(next.client, await next.client.attach(s.id))
    again.type('echo after-$((1+1))\n')
    await again.waitFor((t) => t.output.includes('after-2'), 'live output through the new holder')
    // Its end through the third replica: the viewer on the new holder is let go (an exit frame, or
    // a close when the sandbox goes first), and no replica attaches it again.
    await other.client.deleteSession(s.id)
    await again.waitFor((t) => t.exit !== undefined || t.closeCode !== undefined, 'the viewer let go')
    expect((await next.client.getSession(s.id)).state).toBe('ended')
    await expect(next.client.attach(s.id)).rejects.toMatchObject({ status: 409 })
    await other.client.deleteSession(b.id)
  }, 120_000)
})
