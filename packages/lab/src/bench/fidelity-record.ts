import { z } from 'zod'
import { poolSpecSchema } from '../spec/pool-spec.ts'
import { policySchema } from '../spec/policy-schema.ts'
import type { ReplayFile } from '../sim/starts-from.ts'
import type { Trace } from '../sim/trace.ts'
import { alive, type ReplayResult } from './replay-result.ts'
import type { ReplayPath } from './replay.ts'
import type { Side } from './fidelity-compare.ts'

/**
 * What fidelity.json keeps of one replay (a cell's `replay`): the sim-shaped figures, every
 * sandbox create's duration and launch time, the warm and cold claim times, and (in files
 * written since they were kept) the pool's spec, each arrival's path and claim time, and the
 * sandboxes alive over time. From it `fidelity --from` predicts the replay again without
 * running it: the record is everything the prediction and the comparison read.
 */
export const fidelityRecordSchema = z.object({
  sessions: z.number().int().min(0),
  creates: z.object({ ok: z.number().int().min(0), failed: z.number().int().min(0), claimsFailed: z.number().int().min(0) }).loose(),
  createsS: z.array(z.number().min(0)).min(1, 'the replay measured no sandbox create'),
  createsAtS: z.array(z.number()),
  createsMissed: z.number().int().min(0),
  claimS: z.number().min(0),
  coldClaimsS: z.array(z.number().min(0)),
  /** The pool's spec as the gateway ran it (absent in older files: rebuilt from the plan). */
  poolSpec: z.object({ policy: policySchema }).loose().optional(),
  startedAt: z.iso.datetime().optional(),
  /** Each arrival in trace order (absent in older files: the comparison then has no intervals). */
  arrivals: z.object({
    atS: z.array(z.number()),
    sentS: z.array(z.number()),
    path: z.array(z.enum(['warm', 'cold', 'failed'])),
    /** The gateway's claim time; null where the create failed. */
    claimMs: z.array(z.number().min(0).nullable()),
  }).optional(),
  /** The sandboxes alive (ready, starting, claimed) at each look at the pool. */
  samples: z.object({ tS: z.array(z.number()), alive: z.array(z.number().min(0)) }).optional(),
}).loose().superRefine((r, ctx) => {
  if (r.createsAtS.length !== r.createsS.length) ctx.addIssue({ code: 'custom', path: ['createsAtS'], message: `${r.createsAtS.length} launch times for ${r.createsS.length} creates` })
  const a = r.arrivals
  if (a && !(a.sentS.length === a.atS.length && a.path.length === a.atS.length && a.claimMs.length === a.atS.length)) ctx.addIssue({ code: 'custom', path: ['arrivals'], message: 'its columns differ in length' })
  if (r.samples && r.samples.alive.length !== r.samples.tS.length) ctx.addIssue({ code: 'custom', path: ['samples'], message: 'its columns differ in length' })
})

export type FidelityRecord = z.infer<typeof fidelityRecordSchema>

/** A replay's record, as fidelity.json keeps it (the series is left out: the samples stand for it). */
export function recordOf(r: ReplayResult): FidelityRecord {
  const { series: _s, replay: x, ...figures } = r
  return {
    ...figures,
    createsS: [...x.createsS], createsAtS: [...x.createsAtS], createsMissed: x.createsMissed, claimS: x.claimS, coldClaimsS: [...x.coldClaimsS],
    poolSpec: x.pool.spec as FidelityRecord['poolSpec'], startedAt: x.startedAt,
    arrivals: {
      atS: x.arrivals.map((a) => a.atS), sentS: x.arrivals.map((a) => a.sentS), path: x.arrivals.map((a) => a.path),
      claimMs: x.arrivals.map((a) => (a.path === 'failed' ? null : a.claimMs ?? null)),
    },
    samples: { tS: x.samples.map((s) => s.tS), alive: x.samples.map(alive) },
  }
}

/** The measured side of the comparison; undefined when the record has no arrivals (older files). */
export function recordSide(r: FidelityRecord): Side | undefined {
  const a = r.arrivals, s = r.samples
  if (!a || !s) return undefined
  const claims: { tS: number; warm: boolean; waitS: number }[] = []
  const failedAtS: number[] = []
  a.atS.forEach((atS, i) => {
    const ms = a.claimMs[i]
    if (a.path[i] !== 'failed' && ms !== null && ms !== undefined) claims.push({ tS: atS, warm: a.path[i] === 'warm', waitS: ms / 1000 })
    else failedAtS.push(atS)
  })
  return { claims, failedAtS, tS: s.tS, alive: s.alive }
}

/**
 * The record as `sim --starts-from` reads a replay's file: the pool's spec (the record's, or
 * `fallbackSpec` for files written before it was kept), the compression, the creates, the
 * claim times and, when the record has them, the arrivals (whose sessions load the machine).
 */
export function replayFileOf(r: FidelityRecord, o: { speed: number; trace: Trace; fallbackSpec: () => object; startedAt: string }): ReplayFile {
  const spec = r.poolSpec ?? o.fallbackSpec()
  const a = r.arrivals
  const arrivals = a && o.trace.durationS
    ? a.atS.map((atS, i) => ({ atS, durationS: o.trace.durationS![i]! / o.speed, path: a.path[i] as ReplayPath, ...(a.claimMs[i] !== null ? { claimMs: a.claimMs[i]! } : {}) }))
    : undefined
  return {
    replay: {
      speed: o.speed, startedAt: r.startedAt ?? o.startedAt, pool: { name: 'default', spec: spec as ReplayFile['replay']['pool']['spec'] },
      createsS: r.createsS, createsAtS: r.createsAtS, createFailures: r.creates.failed, claimS: r.claimS, coldClaimsS: r.coldClaimsS,
      ...(arrivals ? { arrivals } : {}),
    },
  }
}

/** The pool the fidelity run gives its gateway, as the gateway's spec (defaults filled in). */
export function poolSpecOf(pool: object): object {
  return poolSpecSchema.parse(pool)
}
