import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/** How often the worker checkpoints the WAL; a commit never waits for it. */
export const CHECKPOINT_INTERVAL_MS = 1000

export interface CheckpointResult {
  /** Frames in the WAL, and how many of them are now in the database file. */
  readonly log: number
  readonly checkpointed: number
}

// CommonJS, evaluated in the worker: no file of its own, so it works the same from the sources
// and from the CLI bundle. better-sqlite3 is resolved by the main thread and passed in.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.module)
const db = new Database(workerData.path, { fileMustExist: true })
db.pragma('busy_timeout = 5000')
const tick = () => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)')
    if (r.log > 0) parentPort.postMessage({ log: r.log, checkpointed: r.checkpointed })
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message) })
  }
}
setInterval(tick, workerData.intervalMs)
`

/**
 * Checkpoints a WAL database from a worker thread with its own connection. A checkpoint copies
 * the WAL into the database file and fsyncs both; SQLite's automatic checkpoint does that inside
 * whichever commit crosses 1000 pages, on the thread that commits: the gateway's only thread,
 * during a claim (tens of milliseconds on a busy disk). A PASSIVE checkpoint never blocks a
 * writer, so the gateway's commits only append to the WAL. `onFailure` runs if the worker
 * cannot do its job (the caller then lets SQLite checkpoint as before).
 */
export class WalCheckpointer {
  private readonly worker: Worker
  private failed = false
  last: CheckpointResult | undefined

  constructor(path: string, onFailure: (why: string) => void, intervalMs = CHECKPOINT_INTERVAL_MS) {
    // import.meta.url is empty where this is bundled as CommonJS (a test fixture run with NODE_PATH).
    const module = createRequire(import.meta.url || `${process.cwd()}/`).resolve('better-sqlite3')
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, module, intervalMs } })
    this.worker.unref()
    const fail = (why: string) => {
      if (this.failed) return
      this.failed = true
      onFailure(why)
    }
    this.worker.on('message', (m: CheckpointResult & { error?: string }) => {
      if (m.error !== undefined) fail(m.error)
      else this.last = { log: m.log, checkpointed: m.checkpointed }
    })
    this.worker.on('error', (err) => fail(err.message))
    this.worker.on('exit', (code) => fail(`checkpoint worker exited with ${code}`))
  }

  async close(): Promise<void> {
    this.failed = true
    await this.worker.terminate()
  }
}
