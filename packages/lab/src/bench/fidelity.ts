import { LabClient } from '../client/client.ts'
import type { PolicyInput } from '../spec/policy-schema.ts'
import { simulate } from '../sim/model.ts'
import { replayFileSchema, startsFromScenario } from '../sim/starts-from.ts'
import type { Trace } from '../sim/trace.ts'
import { decorate, generateArrivals, type TraceShape } from '../sim/trace-gen.ts'
import { compare, measuredSide, predictedSide, type Comparison } from './fidelity-compare.ts'
import type { GatewayProcess } from './gateway-process.ts'
import { Replay } from './replay.ts'
import { replayClock } from './replay-command.ts'
import { replayResult, type ReplayResult } from './replay-result.ts'

export type FidelityDriver = 'local' | 'fake'

export interface FidelityTrace {
  readonly name: 'poisson' | 'diurnal' | 'bursty'
  readonly shape: TraceShape
  /** Length in the trace's own time (s). */
  readonly durationS: number
}

export interface FidelityPlan {
  readonly speed: number
  readonly traces: readonly FidelityTrace[]
  readonly policies: Readonly<Record<string, PolicyInput>>
  /** Mean session length in the trace's own time (exponential). */
  readonly sessionMeanS: number
  /** Simulator runs (seeds) per replay. */
  readonly sims: number
  /** Blocks of consecutive arrivals for the intervals (paired batch means). */
  readonly blocks: number
  /** Per replay, besides the trace: a gateway start, the pool's fill, the stop and teardown (s). */
  readonly overheadS: number
  readonly seed: number
}

const SESSION_MEAN_S = 60

/**
 * The full run: three traces of about 2,050 arrivals at 0.6/s (trace time) replayed at speed
 * 10, i.e. 6 sessions a second of about 6 s each for ~350 s per replay; 3 traces x 2 policies
 * is about 40 minutes on a 2-core machine (plannedS). The quick run is the same shape at 1/50 of the arrivals.
 */
export function fidelityPlan(quick: boolean): FidelityPlan {
  const durationS = quick ? 70 : 3500
  const rate = 0.6
  return {
    speed: 10,
    sessionMeanS: quick ? 10 : SESSION_MEAN_S,
    traces: [
      { name: 'poisson', durationS, shape: { kind: 'poisson', ratePerS: rate } },
      // One compressed day over the trace, peak 2.5x the trough (mean about the Poisson rate).
      { name: 'diurnal', durationS, shape: { kind: 'diurnal', peakRatePerS: 0.86, troughRatePerS: 0.34, peakHour: 14, periodS: durationS } },
      // 0.4/s, and 2/s more for 60 s every 10 minutes (mean about the Poisson rate).
      { name: 'bursty', durationS, shape: { kind: 'bursty', ratePerS: 0.4, burstRatePerS: 2, burstEveryS: quick ? 35 : 600, burstS: quick ? 4 : 60, burstOffsetS: quick ? 10 : 120 } },
    ],
    policies: {
      // 6 claims/s x ~1 s local starts is an offered load of 6: Erlang B misses about 12 % with 8.
      fixed: { kind: 'fixed', size: 8 },
      erlang: { kind: 'erlang', targetMissRate: 0.05, windowS: 30 },
    },
    sims: quick ? 3 : 10,
    blocks: quick ? 3 : 6,
    overheadS: quick ? 6 : 30,
    seed: 1,
  }
}

export function makeTrace(plan: FidelityPlan, t: FidelityTrace): Trace {
  const arrivals = generateArrivals(t.shape, t.durationS, plan.seed)
  const d = decorate(arrivals, { seed: plan.seed, session: { kind: 'exponential', meanS: plan.sessionMeanS } })
  return { ...d, users: 1 }
}

/** Seconds the plan takes: each replay's compressed span plus its overhead (the simulations are seconds). */
export function plannedS(plan: FidelityPlan, traces: readonly Trace[]): number {
  const perPolicy = traces.reduce((a, tr) => {
    let end = 0
    for (let i = 0; i < tr.t.length; i++) end = Math.max(end, (tr.t[i]! + tr.durationS![i]!) / plan.speed)
    return a + end + plan.overheadS
  }, 0)
  return perPolicy * Object.keys(plan.policies).length
}

/** The gateway's pool for one policy: room for every create the load asks for. */
export function poolConfig(driver: FidelityDriver, policy: PolicyInput): object {
  return {
    driver,
    pools: [{ name: 'default', driver, policy, maxSize: 128, maxConcurrentCreates: 16, maxCreatesPerMin: 6000, claimTimeoutMs: 60_000 }],
  }
}

export interface FidelityCell {
  readonly trace: string
  readonly policy: string
  readonly arrivals: number
  readonly replay: ReplayResult
  readonly comparison: Comparison
}

export interface FidelityDeps {
  readonly startGateway: (config: object) => Promise<GatewayProcess>
  readonly log: (line: string) => void
  readonly signal: AbortSignal
}

/** One cell: a fresh gateway, the replay, then `plan.sims` predictions of it from its own measurements. */
export async function runCell(plan: FidelityPlan, driver: FidelityDriver, t: FidelityTrace, trace: Trace, policy: string, deps: FidelityDeps): Promise<FidelityCell> {
  const gw = await deps.startGateway(poolConfig(driver, plan.policies[policy]!))
  let replay: ReplayResult
  try {
    const run = await new Replay(new LabClient(gw.url, gw.apiKey), {
      trace, speed: plan.speed, pool: 'default', clock: replayClock, sampleEveryMs: 100, signal: deps.signal,
      progress: (s) => deps.log(`  ${t.name} x ${policy}: ${s}`),
    }).run()
    replay = replayResult(run, `${t.name} (infra-lab fidelity, seed ${plan.seed})`)
  } finally {
    await gw.stop()
  }
  // Read back as sim --starts-from reads a replay's file: the same check of the same shape.
  const asFile = replayFileSchema.parse(JSON.parse(JSON.stringify(replay)))
  const predicted = Array.from({ length: plan.sims }, (_, k) => {
    const { scenario, trace: compressed } = startsFromScenario(asFile, trace, { speed: plan.speed, seed: plan.seed + k })
    return predictedSide(simulate(scenario, { trace: compressed, logClaims: true }), scenario.warmupS)
  })
  return { trace: t.name, policy, arrivals: trace.t.length, replay, comparison: compare(measuredSide(replay), predicted, replay.replay.endS, plan.blocks) }
}
