import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../src/drivers/fake/fake-driver.ts'
import { startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { postgresSkipReason, startPostgres, type PgServer } from '../src/bench/postgres-server.ts'
import { ABANDONED_CLAIM_MARGIN_MS } from '../src/pool/abandoned-claims.ts'
import { CLAIM_AGENT_TIMEOUT_MS } from '../src/pool/claim-timeout.ts'
import type { NewSession } from '../src/store/types.ts'

const skip = postgresSkipReason()
const CLAIM_TIMEOUT_MS = 10_000

describe.skipIf(skip !== undefined)(`sessions whose creating replica died mid-claim${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let server: PgServer
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(async () => {
    await server?.remove()
  })

  it('the lease holder ends one whose claim never reached the agent and destroys its sandbox, marks running one whose claim did, and leaves a young one alone', async () => {
    const url = await server.createDatabase('abandoned')
    const driver = new FakeDriver()
    const config = (replicaId: string) => ({
      store: { url, poolSize: 3 }, replicaId, leaseRenewMs: 200,
      pools: [{ name: 'default', policy: { kind: 'fixed', size: 3 }, maxSize: 8, claimTimeoutMs: CLAIM_TIMEOUT_MS }],
    })
    const gws = [await startTestGateway(driver, config('r1')), await startTestGateway(driver, config('r2'))]
    try {
      const store = gws[0]!.store
      await waitFor(async () => (await store.listSandboxes({ pool: 'default', state: 'warm' })).length === 3, 10_000, 'pool to fill')
      // What a creator that died after the store's claim leaves behind: the session `starting`,
      // its sandbox claimed, and (unless it sent the claim) the agent still warm.
      const oldEnough = Date.now() - (CLAIM_TIMEOUT_MS + CLAIM_AGENT_TIMEOUT_MS + ABANDONED_CLAIM_MARGIN_MS) - 1000
      const session = (id: string, createdAt: number): NewSession => ({ id, user: 'ada', pool: 'default', createdAt, envNames: [] })
      const neverSent = (await store.claimWarm('default', session('ses-never-sent', oldEnough), Date.now()))!
      const applied = (await store.claimWarm('default', session('ses-applied', oldEnough), Date.now()))!
      const young = (await store.claimWarm('default', session('ses-young', Date.now()), Date.now()))!
      // The second one's creator sent the claim and the agent applied it; then the creator died.
      const ch = await driver.connect(applied.sandbox.handle!)
      await ch.claim({ sessionId: 'ses-applied', user: 'ada', home: '/home/ada', env: {}, secrets: {} }, 5000)
      ch.close()

      await waitFor(async () => (await store.getSession('ses-never-sent'))?.state === 'ended', 20_000, 'the abandoned session to end')
      expect(await store.getSession('ses-never-sent')).toMatchObject({ endedReason: 'claim_failed', endedBy: 'system' })
      await waitFor(async () => (await store.getSandbox(neverSent.sandbox.id)) === undefined, 10_000, 'its sandbox row gone')
      expect(driver.destroyed).toContain(neverSent.sandbox.id)
      await waitFor(async () => (await store.getSession('ses-applied'))?.state === 'running', 10_000, 'the applied session running')

      // The young one's creator may well be alive, between its claim and the agent's answer.
      expect(await store.getSession('ses-young')).toMatchObject({ state: 'starting' })
      expect(await store.getSandbox(young.sandbox.id)).toMatchObject({ state: 'claimed' })
      expect(driver.destroyed).not.toContain(young.sandbox.id)
      expect(driver.destroyed).not.toContain(applied.sandbox.id)
      const ended = (await store.listEvents(0, 1000)).filter((e) => e.type === 'session.ended' && e.sessionId === 'ses-never-sent')
      expect(ended).toHaveLength(1)
    } finally {
      for (const gw of gws) await gw.stop()
      await driver.teardown()
    }
  }, 60_000)
})
