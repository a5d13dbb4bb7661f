// Test-only: compares a pool's counts (GET /v1/pools/{name}) with what its driver lists on the host.
import type { AgentChannel } from '../drivers/channel.ts'
import type { SandboxDriver, SandboxHandle, SandboxSpec, WorkspaceBinding } from '../drivers/types.ts'
import { auth } from './test-gateway.test-util.ts'
import type { StartedGateway } from './gateway.ts'

/** A real driver that counts the creates and destroys started through it, so a sample can be bracketed. */
export class CountingDriver implements SandboxDriver {
  readonly name: SandboxDriver['name']
  creates = 0
  destroys = 0
  readonly lostReason?: SandboxDriver['lostReason']

  constructor(readonly inner: SandboxDriver) {
    this.name = inner.name
    if (inner.lostReason) this.lostReason = (id) => inner.lostReason!(id)
  }

  init(): Promise<void> {
    return this.inner.init()
  }
  create(spec: SandboxSpec): Promise<SandboxHandle> {
    this.creates++
    return this.inner.create(spec)
  }
  destroy(id: string): Promise<void> {
    this.destroys++
    return this.inner.destroy(id)
  }
  list(): Promise<SandboxHandle[]> {
    return this.inner.list()
  }
  connect(handle: SandboxHandle): Promise<AgentChannel> {
    return this.inner.connect(handle)
  }
  bindWorkspace(handle: SandboxHandle, user: string): Promise<WorkspaceBinding> {
    return this.inner.bindWorkspace(handle, user)
  }
  teardown(): Promise<void> {
    return this.inner.teardown()
  }
}

export interface PoolStatusView {
  readonly ready: number
  readonly starting: number
  readonly coldStarting: number
  readonly claimed: number
  readonly destroying: number
  readonly total: number
}

export interface HostSample {
  readonly view: PoolStatusView
  /** Sandboxes of the pool in the driver's list(). */
  readonly host: number
  /** Creates and destroys started from just before the view was read until the list returned. */
  readonly creates: number
  readonly destroys: number
}

/**
 * One sample: the pool's view, then the driver's list. The two are not one instant, so each
 * check allows exactly for what the driver was asked to do in between:
 * - every listed sandbox is owned by the pool from before its create starts until after its
 *   destroy returns, so host <= total + creates started since the view;
 * - a ready or claimed sandbox runs on the host until its destroy is called, so
 *   ready + claimed - destroys started since the view <= host.
 * Starting, cold-starting and destroying sandboxes may or may not be listed yet (a driver lists a
 * sandbox once its agent said hello, and stops once its process is gone), so they sit between.
 */
export async function sampleHost(gw: StartedGateway, driver: CountingDriver, pool: string): Promise<HostSample> {
  const creates = driver.creates
  const destroys = driver.destroys
  const res = await gw.app.inject({ method: 'GET', url: `/v1/pools/${pool}`, headers: auth })
  const view = res.json().status as PoolStatusView
  const host = (await driver.inner.list()).filter((h) => h.pool === pool).length
  return { view, host, creates: driver.creates - creates, destroys: driver.destroys - destroys }
}

/** Why a sample breaks the bounds of sampleHost, or undefined when it holds them. */
export function hostSampleViolation(s: HostSample): string | undefined {
  const v = s.view
  if (v.total !== v.ready + v.starting + v.coldStarting + v.claimed + v.destroying) return `the counts do not add up to total: ${JSON.stringify(v)}`
  if (s.host > v.total + s.creates) return `host runs ${s.host} but the pool owns ${v.total} (+${s.creates} creates since): ${JSON.stringify(s)}`
  if (v.ready + v.claimed - s.destroys > s.host) return `the pool has ${v.ready + v.claimed} ready or claimed but the host runs ${s.host} (${s.destroys} destroys since): ${JSON.stringify(s)}`
  return undefined
}

/** `clients` loops of POST /v1/sessions, `holdMs`, DELETE; `posts` POSTs in all; counts answers by status. */
export async function churn(gw: StartedGateway, clients: number, posts: number, holdMs: number, pool = 'default'): Promise<Map<number, number>> {
  const byStatus = new Map<number, number>()
  const headers = { ...auth, 'content-type': 'application/json' }
  let sent = 0
  await Promise.all(Array.from({ length: clients }, async (_, k) => {
    while (sent < posts) {
      sent++
      const res = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { user: `churn-${k}`, pool } })
      byStatus.set(res.statusCode, (byStatus.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode === 201) {
        await new Promise((r) => setTimeout(r, holdMs))
        await gw.app.inject({ method: 'DELETE', url: `/v1/sessions/${res.json().id}`, headers: auth })
      } else await new Promise((r) => setTimeout(r, 20)) // 503: as its Retry-After says, later
    }
  }))
  return byStatus
}

/** Samples the pool against the host until `work` settles. */
export async function sampleWhile<T>(gw: StartedGateway, driver: CountingDriver, pool: string, work: Promise<T>): Promise<{ result: T; samples: HostSample[] }> {
  let settled = false
  const w = work.finally(() => { settled = true })
  const samples: HostSample[] = []
  while (!settled) {
    samples.push(await sampleHost(gw, driver, pool))
    await new Promise((r) => setImmediate(r)) // let timers run: an in-process list() may never leave the microtask queue
  }
  return { result: await w, samples }
}
