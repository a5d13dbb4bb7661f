import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { policySchema } from '../spec/policy-schema.ts'
import { parseScenario, type Scenario } from './scenario.ts'
import { fitSharedStarts } from './shared-starts.ts'
import { nearestByCrossValidation } from './timed-starts.ts'
import type { Trace } from './trace.ts'

/**
 * What `sim --starts-from` reads of a replay's JSON (`infra-lab replay --out`): the pool's spec
 * as the gateway ran it, the compression, the measured sandbox create durations, the median
 * warm claim and each cold claim's own time after its sandbox was ready. The rest of the file (the sim-shaped figures, arrivals, samples) is not
 * needed here.
 */
export const replayFileSchema = z.object({
  replay: z.object({
    speed: z.number().positive(),
    startedAt: z.iso.datetime(),
    pool: z.object({
      name: z.string(),
      spec: z.object({
        policy: policySchema,
        minSize: z.number().int().min(0),
        maxSize: z.number().int().min(1),
        maxConcurrentCreates: z.number().int().min(1),
        maxCreatesPerMin: z.number().int().min(1),
        maxWarmAgeS: z.number().min(0),
        /** Absent in replays of gateways before it existed: no cap. */
        maxClaimWaiters: z.number().int().min(1).optional(),
      }).loose(),
    }),
    createsS: z.array(z.number().min(0)).min(1, 'the replay measured no sandbox create: nothing to draw create times from'),
    /** Launch times of createsS (s after the replay's start); absent in replays written before they were measured. */
    createsAtS: z.array(z.number()).optional(),
    createFailures: z.number().int().min(0),
    claimS: z.number().min(0),
    /** Absent in replays written before cold claims were measured on their own: cold claims then take claimS. */
    coldClaimsS: z.array(z.number().min(0)).optional(),
  }).loose(),
}).loose()

export type ReplayFile = z.infer<typeof replayFileSchema>

/**
 * How a predicted create draws its time from the replay's: `timed`, among those launched
 * nearest its own moment (the default, when the replay has launch times: the prediction of that
 * replay); `any`, among all of them (a what-if on another trace, or a planner's view of a
 * machine whose slow moments are not known in advance).
 */
export type CreateDraws = 'timed' | 'any'

/** The gateway's resync (pool/controller.ts RESYNC_MS), in seconds. */
const GATEWAY_RESYNC_S = 10

/** Reads and checks a replay's JSON; errors name the file and the field. */
export async function readReplayFile(path: string): Promise<ReplayFile> {
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new Error(`${path}: cannot read the replay (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  const r = replayFileSchema.safeParse(json)
  if (!r.success) throw new Error(`${path} is not a replay's JSON (infra-lab replay --out): ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  return r.data
}

/**
 * The scenario that predicts a replay: the trace's arrivals and session lengths divided by
 * `speed` (the replay's compressed timeline), sandbox creates drawn from the durations the
 * replay measured (not compressed: a sandbox takes as long as it takes) or, when the replay
 * has their launch times and they slowed each other down, from each create's time alone,
 * run on the processors fitted to them (`createCores`, see shared-starts.ts). With launch
 * times a create draws among the replay's creates launched nearest its own moment
 * (`createDraws` timed, the window chosen by timed-starts.ts); warm claims
 * taking the replay's median warm claim, cold claims each cold claim's own time as measured,
 * and the pool's spec as the gateway ran it. The replay starts on a full pool; so does the
 * prediction: the arrivals begin after `warmupS`, long enough for the pool to fill, and the
 * figures count from there. It runs on past the last session's end (30 s and four of the
 * longest creates) so that a claim still waiting then is counted, as the replay counts it.
 */
export function startsFromScenario(replay: ReplayFile, trace: Trace, o: { speed: number; seed: number; createDraws?: CreateDraws }): { scenario: Scenario; trace: Trace } {
  const r = replay.replay
  const spec = r.pool.spec
  if (!trace.durationS) throw new Error('the trace has no durationS column: the replay needed it, and so does its prediction')
  const maxCreateS = Math.max(...r.createsS)
  const fill = Math.max(spec.minSize, spec.policy.kind === 'fixed' ? spec.policy.size : 0)
  const warmupS = Math.ceil(30 + 2 * maxCreateS * (Math.ceil(fill / spec.maxConcurrentCreates) + 1))
  const n = trace.t.length
  const t = new Float64Array(n)
  const d = new Float64Array(n)
  let endS = 0
  for (let i = 0; i < n; i++) {
    t[i] = warmupS + trace.t[i]! / o.speed
    d[i] = trace.durationS[i]! / o.speed
    endS = Math.max(endS, t[i]! + d[i]!)
  }
  // Run on past the last session's end so that a claim still waiting then is counted, as the replay counts it.
  const durationS = Math.max(endS, warmupS + 1) + 30 + 4 * maxCreateS
  const creates = r.createsS.length + r.createFailures
  // Creates slow each other down on the gateway's machine: fit how many share its processors and each one's time alone.
  const shared = r.createsAtS && r.createsAtS.length === r.createsS.length ? fitSharedStarts(r.createsAtS, r.createsS) : undefined
  const works = shared && shared.cores < 1e9 ? shared.worksS : r.createsS
  // With their launch times, each create draws among those launched nearest its own moment on
  // the replay's timeline (scenario time = warmupS + replay time): the machine's slow minutes
  // stay where they were instead of spreading over the run.
  const timed = (o.createDraws ?? 'timed') === 'timed' && r.createsAtS && r.createsAtS.length === works.length ? nearestByCrossValidation(r.createsAtS, works) : undefined
  const startS = timed
    ? { kind: 'timed' as const, atS: r.createsAtS!.map((a) => warmupS + a), valuesS: works, nearest: timed.nearest }
    : { kind: 'empirical' as const, valuesS: works }
  const parsed = parseScenario({
    name: `prediction of the replay of pool ${r.pool.name} at speed ${o.speed}`,
    durationS,
    warmupS,
    seed: o.seed,
    startAt: new Date(Date.parse(r.startedAt) - warmupS * 1000).toISOString(),
    arrivals: { kind: 'trace', file: '(the replayed trace)' },
    sessionS: { kind: 'trace' },
    sandbox: {
      startS, claimS: r.claimS, ...(shared && shared.cores < 1e9 ? { createCores: shared.cores } : {}),
      ...(r.coldClaimsS?.length ? { coldClaimS: { kind: 'empirical', valuesS: r.coldClaimsS } } : {}),
    },
    policy: spec.policy,
    pool: {
      minSize: spec.minSize, maxSize: spec.maxSize, maxConcurrentCreates: spec.maxConcurrentCreates, resyncS: GATEWAY_RESYNC_S,
      maxCreatesPerMin: spec.maxCreatesPerMin, maxWarmAgeS: spec.maxWarmAgeS, createFailureRate: creates === 0 ? 0 : r.createFailures / creates,
      ...(spec.maxClaimWaiters !== undefined ? { maxClaimWaiters: spec.maxClaimWaiters } : {}),
    },
    samples: Math.min(10_000, Math.max(2, Math.ceil(durationS * 4) + 1)),
  })
  if (!parsed.ok) throw new Error(`the replay's pool does not make a scenario: ${parsed.errors.join('; ')}`)
  return { scenario: parsed.scenario, trace: { t, durationS: d, user: trace.user, users: trace.users } }
}
