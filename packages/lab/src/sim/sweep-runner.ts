import { cpus } from 'node:os'
import { Worker } from 'node:worker_threads'
import { simulate } from './model.ts'
import { parseScenario } from './scenario.ts'
import type { SimResult } from './stats.ts'
import type { SweepPoint } from './sweep.ts'
import type { Trace } from './workload.ts'

export interface Job { readonly params: Record<string, unknown>; readonly input: unknown }

/** Runs one job in this thread: validate, simulate; a bad point is an error, not a crash. */
export function runJob(job: Job, trace?: Trace): SweepPoint {
  const p = parseScenario(job.input)
  if (!p.ok) return { params: job.params, error: p.errors.join('; ') }
  return { params: job.params, result: simulate(p.scenario, trace ? { trace } : {}) }
}

export interface RunOptions {
  /** Worker threads (0: run in this thread). */
  readonly workers: number
  /** Script a worker runs (the CLI bundle, started as `sim --worker`). */
  readonly workerScript?: string
  readonly trace?: Trace
  readonly onProgress?: (done: number) => void
}

export const defaultWorkers = () => Math.max(1, Math.min(cpus().length, 8))

/** Runs every job, on worker threads when it can, keeping the input order. */
export async function runJobs(jobs: readonly Job[], o: RunOptions): Promise<SweepPoint[]> {
  const out = new Array<SweepPoint>(jobs.length)
  let done = 0
  if (o.workers <= 0 || !o.workerScript) {
    for (let i = 0; i < jobs.length; i++) {
      out[i] = runJob(jobs[i]!, o.trace)
      o.onProgress?.(++done)
      await new Promise((r) => setImmediate(r))
    }
    return out
  }
  let next = 0
  const one = () => new Promise<void>((resolve, reject) => {
    const w = new Worker(o.workerScript!, { argv: ['sim', '--worker'], workerData: { trace: o.trace } })
    const feed = () => {
      if (next >= jobs.length) { void w.terminate(); resolve(); return }
      const i = next++
      w.postMessage({ i, job: jobs[i] })
    }
    w.on('message', (m: { i: number; point: SweepPoint }) => {
      out[m.i] = m.point
      o.onProgress?.(++done)
      feed()
    })
    w.on('error', reject)
    w.on('online', feed)
  })
  await Promise.all(Array.from({ length: Math.min(o.workers, jobs.length) }, one))
  return out
}

/** The worker side: answers jobs until terminated. */
export async function workerLoop(): Promise<number> {
  const { parentPort, workerData } = await import('node:worker_threads')
  if (!parentPort) return 2
  const trace = (workerData as { trace?: Trace } | undefined)?.trace
  parentPort.on('message', (m: { i: number; job: Job }) => {
    const point: SweepPoint = runJob(m.job, trace)
    parentPort.postMessage({ i: m.i, point })
  })
  return new Promise<number>(() => undefined) // runs until the parent terminates the worker
}

export type { SimResult }
