import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgresSkipReason, startPostgres, type PgServer } from '../src/bench/postgres-server.ts'
import { runCli } from '../src/cli/run-cli.test-util.ts'
import { FakeDriver } from '../src/drivers/fake/fake-driver.ts'
import { auth, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'

const skip = postgresSkipReason()
const headers = { ...auth, 'content-type': 'application/json' }

describe.skipIf(skip !== undefined)(`gateway --teardown on a shared PostgreSQL store${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let server: PgServer
  const dir = mkdtempSync(join(tmpdir(), 'lab-teardown-replicas-'))
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(async () => {
    await server?.remove()
    rmSync(dir, { recursive: true, force: true })
  })

  it('refuses while another replica holds a pool lease, leaving its sessions and sandboxes alone; runs once every replica stopped', async () => {
    const url = await server.createDatabase('teardown')
    const pools = [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 4 }]
    const driver = new FakeDriver()
    const replica = await startTestGateway(driver, { store: { url, poolSize: 2 }, replicaId: 'running-replica', leaseRenewMs: 200, pools })
    let stopped = false
    try {
      await waitFor(async () => ((await replica.app.inject('/healthz')).json() as { leases: string[] }).leases.length === 1, 10_000, 'the lease')
      await waitFor(async () => (await replica.store.listSandboxes({ pool: 'default', state: 'warm' })).length === 1, 10_000, 'pool to fill')
      const created = await replica.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: 'ada' } })
      expect(created.statusCode).toBe(201)
      const id = created.json().id as string

      const configFile = join(dir, 'config.json')
      writeFileSync(configFile, JSON.stringify({ driver: 'fake', store: { url }, leaseRenewMs: 200, pools }))
      const argv = ['gateway', '--config', configFile, '--data-dir', join(dir, 'data'), '--teardown']
      const refused = await runCli(argv, { cwd: dir, env: { INFRA_LAB_API_KEY: 'teardown-key-0123456789' } })
      expect(refused.code).toBe(1)
      expect(refused.stderr).toContain('refused: replica running-replica holds lease pool:default on this shared store')
      expect(refused.stderr).toContain('Stop every replica first')
      expect((await replica.store.getSession(id))?.state).toBe('running')
      // Its sandbox is intact (the replica may retire a surplus warm one of its own meanwhile).
      const sandboxId = (await replica.store.getSession(id))!.sandboxId!
      expect(driver.destroyed).not.toContain(sandboxId)
      expect((await replica.store.getSandbox(sandboxId))?.state).toBe('claimed')
      // The running replica still serves the session.
      expect((await replica.app.inject({ method: 'GET', url: `/v1/sessions/${id}`, headers: auth })).json()).toMatchObject({ id, state: 'running' })

      // Stopped cleanly, the replica gives its lease up: the teardown runs and ends the session.
      await replica.stop()
      stopped = true
      const done = await runCli(argv, { cwd: dir, env: { INFRA_LAB_API_KEY: 'teardown-key-0123456789' } })
      expect(done.stderr).toBe('')
      expect(done.code).toBe(0)
      expect(done.stdout).toContain('ended 1 session(s)')
      expect((await server.psql('teardown', `SELECT state, ended_reason FROM sessions WHERE id = '${id}'`)).trim()).toBe('ended|gateway_teardown')
    } finally {
      if (!stopped) await replica.stop()
      await driver.teardown()
      rmSync(replica.dataDir, { recursive: true, force: true })
    }
  })
})
