import { loadavg } from 'node:os'
import { LabClient } from '../client/client.ts'
import type { PolicyInput } from '../spec/policy-schema.ts'
import { simulate } from '../sim/model.ts'
import { replayFileSchema, startsFromScenario, type CreateDraws } from '../sim/starts-from.ts'
import type { Trace } from '../sim/trace.ts'
import { decorate, generateArrivals, type TraceShape } from '../sim/trace-gen.ts'
import { compare, compareWithFigures, predictedSide, type Comparison, type Figures } from './fidelity-compare.ts'
import { fidelityRecordSchema, poolSpecOf, recordOf, recordSide, replayFileOf, type FidelityRecord } from './fidelity-record.ts'
import type { GatewayProcess } from './gateway-process.ts'
import { Replay } from './replay.ts'
import { replayClock } from './replay-command.ts'
import { replayResult, type ReplayResult } from './replay-result.ts'

export type FidelityDriver = 'local' | 'fake'

export interface FidelityTrace {
  readonly name: 'poisson' | 'diurnal' | 'bursty'
  /** Over the history and the measured part. */
  readonly shape: TraceShape
  /** Length of the measured part in the trace's own time (s). */
  readonly durationS: number
}

export interface FidelityPlan {
  readonly speed: number
  readonly traces: readonly FidelityTrace[]
  readonly policies: Readonly<Record<string, PolicyInput>>
  /**
   * The trace's first part (trace time, one compressed day): replayed before the measured part
   * for policies that read a claim history (predictive), so that its "yesterday" is there;
   * the other policies replay the measured part only. The same arrivals are measured for all.
   */
  readonly historyS: number
  /** Policies replayed with the history first. */
  readonly withHistory: readonly string[]
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

const SESSION_MEAN_S = 30

/**
 * The full run: three traces of about 2,080 measured arrivals at 0.6/s (trace time) replayed at
 * speed 11, i.e. 6.6 sessions a second of about 2.7 s each for ~320 s per replay, with four
 * compressed days over it; predictive replays one compressed day more first (80 s). 3 traces x
 * 3 policies is about 56 minutes on a 2-core machine (plannedS). Every arrival creates a
 * sandbox, and a local create costs about 0.3 s of a processor: 6.6 creates a second is close
 * to what two cores can start, which is why the speed is no higher. The quick run is the same
 * shape at 1/50 of the arrivals.
 */
export function fidelityPlan(quick: boolean, speed = 11): FidelityPlan {
  const durationS = quick ? 70 : 3500
  // Four compressed days over the measured part; the history is the day before it.
  const dayS = durationS / 4
  const rate = 0.6
  return {
    speed,
    sessionMeanS: quick ? 10 : SESSION_MEAN_S,
    historyS: dayS,
    withHistory: ['predictive'],
    traces: [
      { name: 'poisson', durationS, shape: { kind: 'poisson', ratePerS: rate } },
      // Peak 2.5x the trough (mean about the Poisson rate), one day every dayS.
      { name: 'diurnal', durationS, shape: { kind: 'diurnal', peakRatePerS: 0.86, troughRatePerS: 0.34, peakHour: 14, periodS: dayS } },
      // 0.4/s, and 2/s more for 60 s every 10 minutes (mean about the Poisson rate).
      { name: 'bursty', durationS, shape: { kind: 'bursty', ratePerS: 0.4, burstRatePerS: 2, burstEveryS: quick ? 35 : 600, burstS: quick ? 4 : 60, burstOffsetS: quick ? 10 : 120 } },
    ],
    policies: {
      // 6.6 claims/s x ~1 s local starts is an offered load of 6.6: Erlang B misses about 16 % with 8.
      fixed: { kind: 'fixed', size: 8 },
      erlang: { kind: 'erlang', targetMissRate: 0.05, windowS: 30 },
      // Erlang's sizing on the rate forecast from the same moment of the compressed day before.
      predictive: { kind: 'predictive', targetMissRate: 0.05, windowS: 30, dayS: dayS / speed },
    },
    sims: quick ? 3 : 10,
    blocks: quick ? 3 : 6,
    // Measured: a gateway start, the pool's fill, the waits past the last session's due end, the stop and teardown.
    overheadS: quick ? 14 : 20,
    seed: 1,
  }
}

/** The whole trace: the history, then the measured part. */
export function makeTrace(plan: FidelityPlan, t: FidelityTrace): Trace {
  const arrivals = generateArrivals(t.shape, plan.historyS + t.durationS, plan.seed)
  const d = decorate(arrivals, { seed: plan.seed, session: { kind: 'exponential', meanS: plan.sessionMeanS } })
  return { ...d, users: 1 }
}

/** What one policy replays of a trace, and from when (trace time) its arrivals are measured. */
export function cellTrace(plan: FidelityPlan, trace: Trace, policy: string): { trace: Trace; measureFromS: number } {
  if (plan.withHistory.includes(policy)) return { trace, measureFromS: plan.historyS }
  let from = 0
  while (from < trace.t.length && trace.t[from]! < plan.historyS) from++
  const t = trace.t.slice(from).map((x) => x - plan.historyS)
  return { trace: { t, durationS: trace.durationS?.slice(from), user: trace.user?.slice(from), users: trace.users }, measureFromS: 0 }
}

/** Arrivals of a trace that are measured (the history's are not). */
export function measuredArrivals(plan: FidelityPlan, trace: Trace): number {
  return cellTrace(plan, trace, '').trace.t.length
}

/** Seconds the plan takes: each replay's compressed span plus its overhead (the simulations are seconds). */
export function plannedS(plan: FidelityPlan, traces: readonly Trace[]): number {
  let total = 0
  for (const policy of Object.keys(plan.policies)) {
    for (const full of traces) {
      const tr = cellTrace(plan, full, policy).trace
      let end = 0
      for (let i = 0; i < tr.t.length; i++) end = Math.max(end, (tr.t[i]! + tr.durationS![i]!) / plan.speed)
      total += end + plan.overheadS
    }
  }
  return total
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
  /** What the replay measured, as fidelity.json keeps it. */
  readonly record: FidelityRecord
  readonly comparison: Comparison
  /**
   * The same comparison with every create drawing among all the replay's creates, not those
   * launched nearest its moment (`sim --create-draws any`): what the model predicts without
   * knowing when the machine was slow. Absent when the record has no launch times.
   */
  readonly untimed?: Comparison
  /** How many of the replay's creates nearest its moment a predicted create drew among (absent: drawn among all). */
  readonly createNearest?: number
  /** The processors the creates were fitted as sharing (absent: they did not slow each other). */
  readonly createCores: number | undefined
  /** The machine's 1-minute load average when the replay ended (its own sandboxes and gateway). */
  readonly loadAverage: number
}

export interface FidelityDeps {
  readonly startGateway: (config: object) => Promise<GatewayProcess>
  readonly log: (line: string) => void
  readonly signal: AbortSignal
}

/**
 * One cell: a fresh gateway, the replay (with the history first for a policy that reads one),
 * then its prediction (predictCell).
 */
export async function runCell(plan: FidelityPlan, driver: FidelityDriver, t: FidelityTrace, full: Trace, policy: string, deps: FidelityDeps): Promise<FidelityCell> {
  const { trace } = cellTrace(plan, full, policy)
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
  // Read back as fidelity --from reads a saved file: the same check of the same shape.
  const record = fidelityRecordSchema.parse(JSON.parse(JSON.stringify(recordOf(replay))))
  return predictCell(plan, driver, t, full, policy, record, loadavg()[0]!)
}

/**
 * The prediction of one replay from its record (live, or read back from fidelity.json):
 * `plan.sims` simulations of the same compressed timeline from the replay's own measurements
 * (`sim --starts-from`), compared with it over the measured part. Records without the
 * arrivals (older files) are compared on their saved figures alone, without intervals.
 */
export function predictCell(plan: FidelityPlan, driver: FidelityDriver, t: FidelityTrace, full: Trace, policy: string, record: FidelityRecord, loadAverage: number, saved?: Figures): FidelityCell {
  const { trace, measureFromS } = cellTrace(plan, full, policy)
  // Read as sim --starts-from reads a replay's file: the same check of the same shape.
  const asFile = replayFileSchema.parse(replayFileOf(record, {
    speed: plan.speed, trace, startedAt: START_UNKNOWN,
    fallbackSpec: () => poolSpecOf((poolConfig(driver, plan.policies[policy]!) as { pools: object[] }).pools[0]!),
  }))
  let createCores: number | undefined
  let createNearest: number | undefined
  const predict = (createDraws: CreateDraws) => Array.from({ length: plan.sims }, (_, k) => {
    const { scenario, trace: compressed } = startsFromScenario(asFile, trace, { speed: plan.speed, seed: plan.seed + k, createDraws })
    createCores = scenario.sandbox.createCores
    if (createDraws === 'timed' && scenario.sandbox.startS.kind === 'timed') createNearest = scenario.sandbox.startS.nearest
    return predictedSide(simulate(scenario, { trace: compressed, logClaims: true }), scenario.warmupS)
  })
  const predicted = predict('timed')
  const window = { fromS: measureFromS / plan.speed, toS: lastDueEndS(trace, plan.speed) }
  const measured = recordSide(record)
  if (!measured && !saved) throw new Error(`${t.name} x ${policy}: the record has neither the arrivals nor the measured figures to compare with`)
  const arrivals = trace.t.filter((x) => x >= measureFromS).length
  const against = (p: typeof predicted) => measured ? compare(measured, p, window, plan.blocks) : compareWithFigures(withRefused(saved!, arrivals), p, window, plan.blocks)
  const comparison = against(predicted)
  const untimed = asFile.replay.createsAtS ? against(predict('any')) : undefined
  return { trace: t.name, policy, arrivals, record, createCores, loadAverage, comparison, ...(createNearest !== undefined ? { createNearest } : {}), ...(untimed ? { untimed } : {}) }
}

/**
 * Figures saved before refused claims were counted: every measured arrival either got a
 * session or was refused, so the refused are the arrivals without one, and the warm-hit rate
 * is taken over all of them.
 */
function withRefused(f: Figures, arrivals: number): Figures {
  if (f.refused !== undefined) return f
  const refused = Math.max(0, arrivals - f.claims)
  return { ...f, refused, warmHitRate: arrivals === 0 ? 0 : (f.warmHitRate * f.claims) / arrivals }
}

/** The replay's window ends at the last session's due end (as the replay's endS). */
function lastDueEndS(trace: Trace, speed: number): number {
  let end = 0
  for (let i = 0; i < trace.t.length; i++) end = Math.max(end, (trace.t[i]! + trace.durationS![i]!) / speed)
  return end
}

/**
 * Start time of a replay in files written before it was kept: it only places the predictive
 * policy's history buckets (a few seconds each) on the clock, not the figures' timeline.
 */
const START_UNKNOWN = '2026-01-01T00:00:00.000Z'
