import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { sha256Hex } from './auth.ts'
import { ADMIN } from './principal.ts'
import { startTestGateway, waitFor } from './test-gateway.test-util.ts'

/** The store calls that write a session or its token. */
const SESSION_WRITES = ['claimWarm', 'claimSandbox', 'putAttachToken', 'markSessionTimings', 'markSessionRunning', 'endSession'] as const

describe('the claim path\'s store writes (fake driver)', () => {
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  let writes: string[]

  beforeEach(async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 2 }] })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 1, 20_000, 'a warm sandbox')
    // Counted on the real store: every call still reaches SQLite.
    writes = []
    const store = gw.store as unknown as Record<string, (...args: unknown[]) => unknown>
    for (const m of SESSION_WRITES) {
      const real = store[m]!.bind(gw.store)
      store[m] = (...args: unknown[]) => {
        writes.push(m)
        return real(...args)
      }
    }
  })
  afterEach(() => gw.cleanup())

  it('commits once before answering: the claim transaction writes the session, its sandbox and its first attach token', async () => {
    const created = await gw.sessions.create({ user: 'alice' }, ADMIN)
    expect(writes).toEqual(['claimWarm'])
    expect(await gw.store.getAttachToken(sha256Hex(created.attach.token))).toMatchObject({ sessionId: created.id })
    expect(created).toMatchObject({ state: 'starting', warm: true, timings: { claimMs: expect.any(Number), storeClaimMs: expect.any(Number) } })
  })

  it('writes the claim\'s timings with the agent\'s answer, after the response', async () => {
    const created = await gw.sessions.create({ user: 'alice' }, ADMIN)
    await waitFor(async () => (await gw.store.getSession(created.id))?.state === 'running', 20_000, 'the session to run')
    expect(writes).toEqual(['claimWarm', 'markSessionRunning'])
    expect((await gw.store.getSession(created.id))!.timings).toMatchObject({ ...created.timings, agentReadyMs: expect.any(Number) })
  })
})
