import { mkdirSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import type { FsOp } from './fs-ops.ts'

/** What one worker reports for one operation. */
export interface PhaseReport {
  readonly op: FsOp
  readonly worker: number
  /** Timed operations (warm-up excluded). */
  readonly n: number
  readonly warmup: number
  /** Per-operation latency in nanoseconds, first `n` entries. */
  readonly latNs: Float64Array
  /** Epoch ms (performance.timeOrigin + now) at the common start and at this worker's end. */
  readonly startMs: number
  readonly endMs: number
  readonly interrupted: boolean
}

export interface WorkerInput {
  readonly dir: string
  readonly files: number
  readonly ops: readonly FsOp[]
  readonly warmup: number
  readonly readdirRepeats: number
  readonly writeBytes: number
  readonly index: number
  readonly workers: number
  /** Int32 [stop, barrier count, barrier generation]; stop: 1 = abort, 2 = a worker failed. */
  readonly control: SharedArrayBuffer
}

/**
 * The worker's body. It runs from its source text (eval worker) so it works the same from the
 * TypeScript sources and from the esbuild bundle: it must not reference anything outside itself,
 * and it gets `require` as a parameter (a bundler rewrites a free `require`).
 * A tight loop of synchronous calls: fs.promises costs ~10x the syscall on local disk, the
 * thread pool hop is what it measures; one synchronous loop per worker thread does not.
 */
function workerMain(load: (id: string) => unknown): void {
  const fs = load('node:fs') as typeof import('node:fs')
  const { parentPort, workerData } = load('node:worker_threads') as typeof import('node:worker_threads')
  const input = workerData as WorkerInput
  const ctl = new Int32Array(input.control)
  const now = () => performance.timeOrigin + performance.now()
  const stopped = () => Atomics.load(ctl, 0) !== 0
  const barrier = () => {
    const gen = Atomics.load(ctl, 2)
    if (Atomics.add(ctl, 1, 1) + 1 === input.workers) {
      Atomics.store(ctl, 1, 0)
      Atomics.add(ctl, 2, 1)
      Atomics.notify(ctl, 2)
      return
    }
    while (Atomics.load(ctl, 2) === gen && !stopped()) Atomics.wait(ctl, 2, gen, 50)
  }
  const n = input.files
  const d = input.dir
  const fPath = Array.from({ length: n }, (_, i) => `${d}/f${i}`)
  const gPath = Array.from({ length: n }, (_, i) => `${d}/g${i}`)
  const dPath = Array.from({ length: n }, (_, i) => `${d}/d${i}`)
  const buf = Buffer.alloc(input.writeBytes, 120)
  let files: string[] | undefined
  let dirs = false
  const createAll = () => {
    for (const p of fPath) fs.closeSync(fs.openSync(p, 'w'))
    files = fPath
  }
  const bodies: Record<FsOp, { count: number; run: (i: number) => void; before?: () => void; after?: () => void }> = {
    mkdir: { count: n, run: (i) => fs.mkdirSync(dPath[i]!), after: () => { dirs = true } },
    create: { count: n, run: (i) => fs.closeSync(fs.openSync(fPath[i]!, 'w')), after: () => { files = fPath } },
    write: { count: n, before: () => { if (!files) createAll() }, run: (i) => { const fd = fs.openSync(files![i]!, 'w'); fs.writeSync(fd, buf); fs.closeSync(fd) } },
    stat: { count: n, before: () => { if (!files) createAll() }, run: (i) => fs.statSync(files![i]!) },
    readdir: { count: input.readdirRepeats, before: () => { if (!files) createAll() }, run: () => fs.readdirSync(d) },
    rename: { count: n, before: () => { if (!files) createAll() }, run: (i) => fs.renameSync(files![i]!, files === fPath ? gPath[i]! : fPath[i]!), after: () => { files = files === fPath ? gPath : fPath } },
    unlink: { count: n, before: () => { if (!files) createAll() }, run: (i) => fs.unlinkSync(files![i]!), after: () => { files = undefined } },
    rmdir: { count: n, before: () => { if (!dirs) { for (const p of dPath) fs.mkdirSync(p); dirs = true } }, run: (i) => fs.rmdirSync(dPath[i]!), after: () => { dirs = false } },
  }
  try {
    fs.mkdirSync(d)
    for (const op of input.ops) {
      if (stopped()) break
      const b = bodies[op]
      const warm = Math.min(input.warmup, Math.floor(b.count / 10))
      b.before?.()
      barrier()
      let i = 0
      for (; i < warm && !stopped(); i++) b.run(i)
      barrier()
      const lat = new Float64Array(b.count - warm)
      const start = now()
      let t0 = performance.now()
      for (; i < b.count; i++) {
        if (stopped()) break
        b.run(i)
        const t1 = performance.now()
        lat[i - warm] = (t1 - t0) * 1e6
        t0 = t1
      }
      const done = i - warm
      if (done === b.count - warm) b.after?.()
      else if (op === 'create' || op === 'rename') files = undefined // cleanup below removes by directory
      parentPort!.postMessage({ kind: 'phase', op, worker: input.index, n: Math.max(0, done), warmup: warm, latNs: lat, startMs: start, endMs: now(), interrupted: done < b.count - warm }, [lat.buffer])
    }
    parentPort!.postMessage({ kind: 'done' })
  } catch (err) {
    Atomics.store(ctl, 0, 2)
    Atomics.notify(ctl, 2)
    const e = err as NodeJS.ErrnoException
    parentPort!.postMessage({ kind: 'error', code: e.code ?? 'ERROR', message: e.message })
  }
}

/** Source of the worker: the function above, run as an eval worker (CommonJS `require`). */
const WORKER_SOURCE = `(${workerMain.toString()})(require)`

export class FsWorkerError extends Error {
  override readonly name = 'FsWorkerError'
  constructor(readonly code: string, message: string) {
    super(message)
  }
}

/**
 * Runs the operations with `workers` threads at once, each in its own subdirectory of `root`.
 * Resolves with every phase report; an abort stops the loops between two operations and
 * resolves with what was measured so far. A failing operation rejects with FsWorkerError (after
 * every worker stopped), with the reports so far on `partial`.
 */
export function runFsWorkers(
  root: string, workers: number, opts: Omit<WorkerInput, 'dir' | 'index' | 'workers' | 'control'>, signal: AbortSignal,
): Promise<{ reports: PhaseReport[]; error?: FsWorkerError }> {
  mkdirSync(root, { recursive: true })
  const control = new SharedArrayBuffer(12)
  const ctl = new Int32Array(control)
  const reports: PhaseReport[] = []
  let error: FsWorkerError | undefined
  const onAbort = () => {
    Atomics.store(ctl, 0, 1)
    Atomics.notify(ctl, 2)
  }
  signal.addEventListener('abort', onAbort, { once: true })
  if (signal.aborted) onAbort()
  const runs = Array.from({ length: workers }, (_, index) => new Promise<void>((resolve) => {
    const workerData: WorkerInput = { ...opts, dir: `${root}/w${index}`, index, workers, control }
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData })
    w.on('message', (m: { kind: string } & PhaseReport & { code: string; message: string }) => {
      if (m.kind === 'phase') reports.push(m)
      else if (m.kind === 'error') error ??= new FsWorkerError(m.code, m.message)
    })
    w.on('error', (err) => {
      error ??= new FsWorkerError('WORKER', err.message)
      onAbort()
    })
    w.on('exit', () => resolve())
  }))
  return Promise.all(runs).then(() => {
    signal.removeEventListener('abort', onAbort)
    return error ? { reports, error } : { reports }
  })
}
