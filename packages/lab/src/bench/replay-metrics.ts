import type { LabClient } from '../client/client.ts'

/** The sum over every label set of one Prometheus series in /metrics text (0 when absent). */
export function metricSum(text: string, name: string): number {
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm')
  let sum = 0
  for (const m of text.matchAll(re)) sum += Number(m[1])
  return sum
}

/**
 * Sandbox create durations from the gateway's lab_sandbox_start_duration_seconds histogram,
 * read again and again: between two reads, the growth of `_count` is how many creates finished
 * and the growth of `_sum` their total time. One create between two reads is its exact
 * duration; k of them each get the mean of the k (counted in `merged`). Read often enough that
 * creates rarely finish together.
 */
export class CreateDurations {
  readonly durationsS: number[] = []
  merged = 0
  failures = 0
  private last: { count: number; sum: number; failures: number } | undefined

  async read(client: LabClient): Promise<void> {
    this.update(await client.metricsText())
  }

  update(text: string): void {
    const now = {
      count: metricSum(text, 'lab_sandbox_start_duration_seconds_count'),
      sum: metricSum(text, 'lab_sandbox_start_duration_seconds_sum'),
      failures: metricSum(text, 'lab_sandbox_failures_total'),
    }
    const last = this.last
    this.last = now
    if (!last) return
    const k = now.count - last.count
    this.failures += Math.max(0, now.failures - last.failures)
    if (k <= 0) return
    const mean = (now.sum - last.sum) / k
    for (let j = 0; j < k; j++) this.durationsS.push(mean)
    if (k > 1) this.merged += k
  }
}
