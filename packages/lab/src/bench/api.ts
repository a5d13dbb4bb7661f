import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { pino } from 'pino'
import type { SandboxDriver } from '../drivers/types.ts'
import { DockerDriver } from '../drivers/docker/docker-driver.ts'
import { LocalDriver } from '../drivers/local/local-driver.ts'
import { agentBundleDir } from '../paths.ts'
import { LatencyHistogram, type LatencyStats } from './histogram.ts'

export type ApiCall = 'create' | 'list' | 'connect' | 'destroy'

export interface ApiCallResult {
  readonly call: ApiCall
  readonly what: string
  readonly latencyMs: LatencyStats
}

export interface ApiBenchResult {
  readonly driver: string
  readonly calls: number
  readonly concurrency: number
  readonly partial: boolean
  readonly results: ApiCallResult[]
}

const WHAT: Record<ApiCall, string> = {
  create: 'create until the agent said hello (start + hello)',
  list: 'list every sandbox of the driver (inspect)',
  connect: 'open a channel to the agent and receive its hello',
  destroy: 'stop the sandbox and remove everything it left',
}

/**
 * Control-plane latency of one driver: `calls` creates (in batches of `concurrency`), a list
 * after each batch, a connect to each sandbox, then the destroys. The first `warmup` creates are
 * excluded. Every sandbox made is destroyed, also on abort or error.
 */
export async function benchDriverApi(driver: SandboxDriver, o: { calls: number; concurrency: number; warmup: number }, signal: AbortSignal, progress: (done: number) => void = () => undefined): Promise<ApiBenchResult> {
  const h: Record<ApiCall, LatencyHistogram> = { create: new LatencyHistogram(), list: new LatencyHistogram(), connect: new LatencyHistogram(), destroy: new LatencyHistogram() }
  const alive = new Set<string>()
  const timed = async <T>(call: ApiCall, count: boolean, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now()
    const v = await f()
    if (count) h[call].record((performance.now() - t0) * 1e6)
    else h[call].warmup++
    return v
  }
  try {
    for (let i = 0; i < o.warmup && !signal.aborted; i++) {
      const id = `bench-api-w${i}-${process.pid}`
      alive.add(id)
      await timed('create', false, () => driver.create(spec(id)))
      await timed('destroy', false, () => driver.destroy(id))
      alive.delete(id)
    }
    let made = 0
    while (made < o.calls && !signal.aborted) {
      const batch = Array.from({ length: Math.min(o.concurrency, o.calls - made) }, (_, k) => `bench-api-${made + k}-${process.pid}`)
      batch.forEach((id) => alive.add(id))
      const handles = await Promise.all(batch.map((id) => timed('create', true, () => driver.create(spec(id)))))
      await timed('list', true, () => driver.list())
      await Promise.all(handles.map(async (hd) => (await timed('connect', true, () => driver.connect(hd))).close()))
      await Promise.all(batch.map(async (id) => {
        await timed('destroy', true, () => driver.destroy(id))
        alive.delete(id)
      }))
      made += batch.length
      progress(made)
    }
  } finally {
    for (const id of alive) await driver.destroy(id).catch(() => undefined)
  }
  const results = (Object.keys(h) as ApiCall[]).map((call) => {
    const r = { call, what: WHAT[call], latencyMs: h[call].stats(1e6) }
    h[call].destroy()
    return r
  })
  return { driver: driver.name, calls: o.calls, concurrency: o.concurrency, partial: signal.aborted, results }
}

function spec(id: string) {
  return { id, pool: 'bench-api', limits: { pids: 256, memoryMb: 512, cpus: 1 }, network: false, helloTimeoutMs: 30_000 }
}

/** A local (bubblewrap) driver on throw-away directories; `close` tears it all down. */
export async function openLocalDriver(): Promise<{ driver: SandboxDriver; close: () => Promise<void> }> {
  return openScratchDriver('infra-lab-api-', (dataDir) => new LocalDriver({ dataDir, workspacesDir: join(dataDir, 'workspaces'), agentBundleDir: agentBundleDir(), logger: pino({ level: 'warn' }) }))
}

/** The Docker driver on the local engine and the locally built sandbox image. */
export async function openDockerDriver(): Promise<{ driver: SandboxDriver; close: () => Promise<void> }> {
  return openScratchDriver('infra-lab-api-docker-', (dataDir) => new DockerDriver({ dataDir, workspacesDir: join(dataDir, 'workspaces'), logger: pino({ level: 'warn' }) }))
}

/** A driver on a throw-away data dir; `close` removes every sandbox it made and the dir. */
async function openScratchDriver(prefix: string, make: (dataDir: string) => SandboxDriver): Promise<{ driver: SandboxDriver; close: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix))
  const driver = make(dataDir)
  const close = async () => {
    await driver.teardown().catch(() => undefined)
    rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    await driver.init()
  } catch (err) {
    await close()
    throw err
  }
  return { driver, close }
}
