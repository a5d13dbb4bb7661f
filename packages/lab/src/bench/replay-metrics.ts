import type { LabClient, PoolStatus } from '../client/client.ts'

/** The sum over every label set of one Prometheus series in /metrics text (0 when absent). */
export function metricSum(text: string, name: string): number {
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm')
  let sum = 0
  for (const m of text.matchAll(re)) sum += Number(m[1])
  return sum
}

/**
 * Each sandbox create's own duration, from the pool's status read again and again
 * (`status.starts`: how many creates finished, and the newest of them with their launch time
 * and duration): the growth of `count` between two looks is how many of `recent` are new. More
 * new creates than `recent` lists (more than 32 between two looks) are counted in `missed`.
 * Failed creates come from the gateway's lab_sandbox_failures_total.
 */
export class CreateDurations {
  readonly durationsS: number[] = []
  /** Launch times (ms since the epoch), one per entry of durationsS. */
  readonly launchedAtMs: number[] = []
  missed = 0
  failures = 0
  private lastCount: number | undefined
  private lastFailures: number | undefined

  async readFailures(client: LabClient): Promise<void> {
    const now = metricSum(await client.metricsText(), 'lab_sandbox_failures_total')
    if (this.lastFailures !== undefined) this.failures += Math.max(0, now - this.lastFailures)
    this.lastFailures = now
  }

  /** Takes the creates finished since the last look; the first look only sets the baseline (earlier creates are not the replay's). */
  update(starts: PoolStatus['starts']): void {
    const last = this.lastCount
    this.lastCount = starts.count
    if (last === undefined) return
    const k = starts.count - last
    if (k <= 0) return
    const fresh = starts.recent.slice(Math.max(0, starts.recent.length - k))
    this.missed += k - fresh.length
    for (const e of fresh) {
      this.durationsS.push(e.ms / 1000)
      this.launchedAtMs.push(Date.parse(e.at))
    }
  }
}
