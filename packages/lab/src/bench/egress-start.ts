import type { LabClient } from '../client/client.ts'
import type { NetworkPolicy } from '../spec/network-policy.ts'
import { measureStart, waitForReady, type StartupSample } from './startup.ts'

export const EGRESS_POOL = 'net'

/** The two policies compared: nothing, and an allow-list of the size a real agent would carry. */
export const START_POLICIES = {
  none: { egress: 'none' },
  allow: {
    egress: 'allow',
    allow: ['registry.npmjs.org', '*.npmjs.org', 'pypi.org', '*.pythonhosted.org', 'github.com', '*.githubusercontent.com', 'api.openai.com', '203.0.113.0/24'],
    deny: ['gist.github.com'],
  },
} as const satisfies Record<string, NetworkPolicy>
export type StartPolicy = keyof typeof START_POLICIES

export interface StartSeries {
  readonly policy: StartPolicy
  /** POST to the terminal's first byte, ms, in the order taken. */
  readonly totalMs: number[]
  /** The gateway's own claim time (timings.claimMs), ms. */
  readonly claimMs: number[]
}

/**
 * Warm starts on a network pool, the two policies interleaved round by round (the order flips
 * every round), each start waiting for the pool to be full again so every one is warm.
 */
export async function measureEgressStarts(
  client: LabClient, o: { rounds: number; warmup: number; poolSize: number }, signal: AbortSignal, log: (s: string) => void,
): Promise<{ series: Record<StartPolicy, StartSeries>; cold: number }> {
  const series: Record<StartPolicy, StartSeries> = {
    none: { policy: 'none', totalMs: [], claimMs: [] },
    allow: { policy: 'allow', totalMs: [], claimMs: [] },
  }
  let cold = 0
  for (let r = 0; r < o.warmup + o.rounds && !signal.aborted; r++) {
    const order: StartPolicy[] = r % 2 === 0 ? ['none', 'allow'] : ['allow', 'none']
    for (const policy of order) {
      await waitForReady(client, EGRESS_POOL, o.poolSize)
      const s: StartupSample = await measureStart(client, EGRESS_POOL, `bench-egress-${policy}`, { network: START_POLICIES[policy] })
      if (!s.warm) cold++
      if (r < o.warmup) continue
      series[policy].totalMs.push(s.totalMs)
      series[policy].claimMs.push(s.claimMs)
    }
    if ((r + 1) % 20 === 0) log(`  starts: ${r + 1}/${o.warmup + o.rounds} rounds`)
  }
  return { series, cold }
}
