import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import type { CliIo, ExitCode } from '../io.ts'
import { policySchema, type PolicyInput } from '../spec/policy-schema.ts'
import { makeTrace, predictCell, type FidelityCell, type FidelityPlan } from './fidelity.ts'
import { fidelityRecordSchema } from './fidelity-record.ts'
import { FIDELITY_FILES, writeFidelity } from './fidelity-write.ts'

const pos = z.number().positive()
const shapeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('poisson'), ratePerS: pos }),
  z.object({ kind: z.literal('diurnal'), peakRatePerS: pos, troughRatePerS: pos, hourlyRatesPerS: z.array(z.number().min(0)).length(24).optional(), peakHour: z.number().min(0).max(24), periodS: pos }),
  z.object({ kind: z.literal('bursty'), ratePerS: pos, burstRatePerS: z.number().min(0), burstEveryS: pos, burstS: pos, burstOffsetS: z.number().min(0) }),
])

const planSchema = z.object({
  speed: pos,
  sessionMeanS: pos,
  historyS: z.number().min(0),
  withHistory: z.array(z.string()),
  traces: z.array(z.object({ name: z.enum(['poisson', 'diurnal', 'bursty']), shape: shapeSchema, durationS: pos })).min(1),
  // Kept as written (the report quotes them); checked against the policy schema.
  policies: z.record(z.string(), z.custom<PolicyInput>((p) => policySchema.safeParse(p).success, 'not a pool policy')),
  sims: z.number().int().min(1).max(100),
  blocks: z.number().int().min(1).max(100),
  overheadS: z.number().min(0),
  seed: z.number().int(),
})

const figuresSchema = z.object({
  claims: z.number().min(0), refused: z.number().min(0).optional(), warmHitRate: z.number().min(0).max(1), coldN: z.number().min(0),
  coldP50S: z.number().min(0), coldP95S: z.number().min(0), sandboxS: z.number().min(0),
})

/** A fidelity.json as `infra-lab fidelity` writes it: the plan, and per cell the replay's record and the measured figures. */
export const fidelityFileSchema = z.object({
  generatedBy: z.string(),
  quick: z.boolean(),
  driver: z.enum(['local', 'fake']),
  /** Absent in files written before they were kept. */
  date: z.string().optional(),
  machine: z.object({ cpuModel: z.string(), cores: z.number().int().min(1), memoryGiB: z.number().min(0), kernel: z.string(), node: z.string() }).optional(),
  plan: planSchema,
  wallS: z.number().min(0),
  cells: z.array(z.object({
    trace: z.string(),
    policy: z.string(),
    loadAverage: z.number().min(0),
    comparison: z.object({ measured: figuresSchema }).loose(),
    replay: fidelityRecordSchema,
  }).loose()).min(1),
}).loose()

export interface FidelityFromFlags {
  readonly from: string
  readonly out: string
}

/**
 * `infra-lab fidelity --from FILE --out DIR`: the predictions, the comparison and the report
 * again from a saved fidelity.json, without a replay: each cell's record (the replay's
 * measurements) goes through today's model. Seconds, not the hour of a live run.
 */
export async function fidelityFromCommand(flags: FidelityFromFlags, io: CliIo): Promise<ExitCode> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const path = resolve(io.cwd, flags.from)
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    log(`infra-lab fidelity --from ${flags.from}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
    return 1
  }
  const parsed = fidelityFileSchema.safeParse(json)
  if (!parsed.success) {
    log(`infra-lab fidelity --from ${flags.from}: not a fidelity.json (infra-lab fidelity): ${parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
    return 1
  }
  const file = parsed.data
  const plan: FidelityPlan = file.plan
  const cells: FidelityCell[] = []
  for (const c of file.cells) {
    const t = plan.traces.find((x) => x.name === c.trace)
    if (!t || !(c.policy in plan.policies)) {
      log(`infra-lab fidelity --from ${flags.from}: cell ${c.trace} x ${c.policy} is not in the file's plan`)
      return 1
    }
    const full = makeTrace(plan, t)
    cells.push(predictCell(plan, file.driver, t, full, c.policy, c.replay, c.loadAverage, c.comparison.measured))
  }
  const predictedBy = `npx infra-lab fidelity --from ${flags.from} --out ${flags.out}`
  const dir = resolve(io.cwd, flags.out)
  const md = await writeFidelity(dir, {
    plan, cells, driver: file.driver, quick: file.quick, machine: file.machine, date: file.date,
    command: file.generatedBy, wallS: file.wallS, predictedBy,
  })
  io.stdout.write(`${md}\nwritten: ${FIDELITY_FILES.map((x) => join(dir, x)).join(', ')}\n`)
  return 0
}
