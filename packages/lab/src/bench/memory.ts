import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { agentBundleDir } from '../paths.ts'
import { LocalDriver } from '../drivers/local/local-driver.ts'
import { linearFit } from './stats.ts'

export interface MemoryResult {
  /** Total PSS of all sandbox processes after k warm sandboxes, k = 1..n. */
  readonly points: { sandboxes: number; pssMb: number }[]
  readonly slopeMb: number
  readonly interceptMb: number
  readonly r2: number
}

const MB = 1024 * 1024

/**
 * Marginal memory of a warm sandbox: start n sandboxes one by one with the local driver and
 * after each sum the PSS of every process of every sandbox (PSS splits shared pages fairly, so
 * the node binary's pages are not counted n times); the slope is the cost of one more.
 */
export async function measureMemory(n: number, progress: (k: number) => void = () => undefined): Promise<MemoryResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'infra-lab-mem-'))
  const driver = new LocalDriver({ dataDir, workspacesDir: join(dataDir, 'workspaces'), agentBundleDir: agentBundleDir(), logger: pino({ level: 'warn' }) })
  const ids: string[] = []
  const points: { sandboxes: number; pssMb: number }[] = []
  try {
    await driver.init()
    for (let k = 1; k <= n; k++) {
      const id = `mem-${k}-${process.pid}`
      await driver.create({ id, pool: 'bench-memory', limits: { pids: 256, memoryMb: 512, cpus: 1 }, network: false, helloTimeoutMs: 30_000 })
      ids.push(id)
      await new Promise((r) => setTimeout(r, 150)) // let the agent and the shell settle
      let total = 0
      for (const sid of ids) total += await driver.pssBytes(sid)
      points.push({ sandboxes: k, pssMb: total / MB })
      progress(k)
    }
    const fit = linearFit(points.map((p) => p.sandboxes), points.map((p) => p.pssMb))
    return { points, slopeMb: fit.slope, interceptMb: fit.intercept, r2: fit.r2 }
  } finally {
    await driver.teardown()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
