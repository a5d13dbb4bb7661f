/** One function's row of a hand-made Azure Functions 2019 invocation file: counts by minute (1-based). */
export interface AzureRow {
  readonly fn: string
  readonly counts: Readonly<Record<number, number>>
  readonly app?: string
  readonly trigger?: string
}

/** A day file in the dataset's layout (`invocations_per_function_md.anon.dNN.csv`); absent minutes are 0. */
export function azureCsv(rows: readonly AzureRow[], minutes = 1440): string {
  const header = ['HashOwner', 'HashApp', 'HashFunction', 'Trigger', ...Array.from({ length: minutes }, (_, i) => String(i + 1))]
  const lines = rows.map((r) => ['owner1', r.app ?? 'app1', r.fn, r.trigger ?? 'http', ...Array.from({ length: minutes }, (_, i) => String(r.counts[i + 1] ?? 0))])
  return [header, ...lines].map((l) => l.join(',')).join('\n') + '\n'
}

/** Arrivals per minute (minute 0 = t in [0, 60)). */
export function perMinute(t: ArrayLike<number>, minutes: number): number[] {
  const out = new Array<number>(minutes).fill(0)
  for (let i = 0; i < t.length; i++) out[Math.floor(t[i]! / 60)]!++
  return out
}
