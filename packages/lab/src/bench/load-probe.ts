import { readFileSync, readdirSync } from 'node:fs'
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import { LabClient } from '../client/client.ts'

/** The gateway process's resident set (VmRSS), open file descriptors and V8 heap in use, now. */
export interface ProcStats {
  readonly rssMiB: number
  readonly fds: number
  /** nodejs_heap_size_used_bytes from /metrics: a leak grows this; garbage not yet collected and allocator slack only grow RSS. */
  readonly heapUsedMiB: number
  /** nodejs_external_memory_bytes: memory of Buffers and other objects outside the V8 heap. */
  readonly externalMiB: number
}

/**
 * Reads the process's figures with the client's kept-alive connections closed first, so the
 * descriptors counted are the gateway's own, not this client's (up to one per concurrent client).
 */
export async function gatewayStats(pid: number, client: LabClient): Promise<ProcStats> {
  const metrics = await getText(`${client.baseUrl}/metrics`)
  LabClient.closeIdleConnections()
  await new Promise((r) => setTimeout(r, 200)) // the gateway closes its end once it reads the FIN
  const mib = (name: string) => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)
    return m ? round1(Number(m[1]) / 2 ** 20) : Number.NaN
  }
  return { ...procStats(pid), heapUsedMiB: mib('nodejs_heap_size_used_bytes'), externalMiB: mib('nodejs_external_memory_bytes') }
}

/** RSS and descriptors only, with the client's connections open (during the run). */
export function procStats(pid: number): Pick<ProcStats, 'rssMiB' | 'fds'> {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!m) throw new Error(`no VmRSS for pid ${pid}`)
  return { rssMiB: round1(Number(m[1]) / 1024), fds: readdirSync(`/proc/${pid}/fd`).length }
}

/** One GET on a connection of its own (not kept alive: it must not count as the gateway's). */
function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve(text)).on('error', reject)
    })
    req.setTimeout(30_000, () => req.destroy(new Error('GET /metrics timed out')))
    req.on('error', reject)
  })
}

const round1 = (v: number) => Math.round(v * 10) / 10

/** One comparison: the pool's total just before and just after the driver listed the host. */
export interface PoolHostSample {
  readonly atMs: number
  readonly poolBefore: number
  readonly host: number
  readonly poolAfter: number
  readonly listMs: number
}

export interface PoolHostSummary {
  readonly samples: number
  /** Samples where the host ran more sandboxes of the pool than the pool counted before and after. */
  readonly hostAbovePool: number
  readonly maxHost: number
  readonly maxPool: number
  /** The longest list() took: a sandbox would have to be made and destroyed within it to slip by. */
  readonly maxListMs: number
}

/**
 * Samples GET /v1/pools/{pool} -> the driver's list() -> GET again, every `everyMs`. A sandbox
 * the host runs is owned by the pool from before its create until after its destroy, so the
 * host's count can only exceed both pool totals around it if a sandbox was both created and
 * destroyed within one list() (the summary says how long the longest list took).
 */
export class PoolHostSampler {
  readonly samples: PoolHostSample[] = []
  private running: Promise<void> | undefined
  private stopped = false
  private readonly t0 = performance.now()

  constructor(private readonly client: LabClient, private readonly pool: string, private readonly hostCount: () => Promise<number>, private readonly everyMs: number) {}

  start(): void {
    this.running = this.loop()
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.running
  }

  /** One sample now (also used at rest, after the run). */
  async sample(): Promise<PoolHostSample> {
    const poolBefore = (await this.client.pool(this.pool)).status.total
    const t = performance.now()
    const host = await this.hostCount()
    const listMs = performance.now() - t
    const poolAfter = (await this.client.pool(this.pool)).status.total
    const s = { atMs: Math.round(t - this.t0), poolBefore, host, poolAfter, listMs: Math.round(listMs * 10) / 10 }
    this.samples.push(s)
    return s
  }

  summary(): PoolHostSummary {
    const s = this.samples
    return {
      samples: s.length,
      hostAbovePool: s.filter((x) => x.host > Math.max(x.poolBefore, x.poolAfter)).length,
      maxHost: Math.max(0, ...s.map((x) => x.host)),
      maxPool: Math.max(0, ...s.map((x) => Math.max(x.poolBefore, x.poolAfter))),
      maxListMs: Math.max(0, ...s.map((x) => x.listMs)),
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.sample()
      } catch {
        // a failed sample (the gateway busy past a timeout) is no evidence either way
      }
      if (!this.stopped) await new Promise((r) => setTimeout(r, this.everyMs))
    }
  }
}
