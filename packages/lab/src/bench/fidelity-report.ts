import { renderSvg, scatterChart } from '../sim/charts.ts'
import { GOAL, meetsGoal, type Comparison, type Difference } from './fidelity-compare.ts'
import type { FidelityCell, FidelityDriver, FidelityPlan } from './fidelity.ts'
import { machineLine, type MachineInfo } from './machine.ts'

const f = (x: number, d = 2) => (Number.isFinite(x) ? Number(x.toFixed(d)).toString() : 'n/a')
const diff = (x: Difference | undefined, unit: string) => (x === undefined ? 'n/a' : `${x.value >= 0 ? '+' : ''}${f(x.value, 1)}${unit}${x.halfWidth === undefined ? '' : ` ± ${f(x.halfWidth, 1)}`}`)
const ms = (s: number) => f(s * 1000, s < 0.1 ? 2 : 0)

/** Why a cell may miss, from what its replay measured (not a proof: what to look at first). */
export function reasons(c: FidelityCell, cores: number | undefined): string[] {
  const r = c.record
  const cmp = c.comparison
  const out: string[] = []
  // Nothing else ran on the machine: its load is the replay's own sandboxes (creates, sessions, teardowns) and gateway.
  if (cores !== undefined && c.loadAverage > 1.5 * cores) out.push(`the run loaded the machine with its own sandboxes and gateway (load average ${f(c.loadAverage, 1)} on ${cores} cores when the replay ended)`)
  const refusedM = cmp.measured.refused ?? 0, refusedP = cmp.predicted.refused ?? 0
  if (refusedM > 0 || refusedP > 0) out.push(`the gateway refused ${f(refusedM, 0)} claims (maxClaimWaiters claims already waiting), the simulation ${f(refusedP, 0)}: both counted as claims that missed`)
  if (r.createsMissed > 0) out.push(`${r.createsMissed} creates finished unseen (more between two looks at the pool than its status lists): their durations are not among those drawn from`)
  const sorted = [...r.createsS].sort((a, b) => a - b)
  const p50 = sorted[Math.floor(sorted.length / 2)] ?? 0
  const p95 = sorted[Math.floor(sorted.length * 0.95)] ?? 0
  if (p50 > 0 && p95 / p50 > 3) out.push(`create times spread widely (p95 ${ms(p95)} ms against p50 ${ms(p50)} ms)${c.createCores === undefined ? ', and the fit found no sharing of processors to explain it' : `: creates in flight slowed each other, fitted as sharing ${c.createCores} processors`}`)
  const late = (r.arrivals?.sentS ?? []).map((s, i) => s - r.arrivals!.atS[i]!).sort((a, b) => a - b)
  const lateP95 = late[Math.floor(late.length * 0.95)] ?? 0
  if (lateP95 > 0.1) out.push(`the replay client sent 5 % of the arrivals ${ms(lateP95)} ms or more late (its own event loop was busy)`)
  if (cmp.coldP95Pct && cmp.coldP95Pct.value < -GOAL.coldP95Pct) out.push('measured cold claims wait longer than predicted: the crowded creates took longer than processor sharing on the fitted processors gives them (their fitted works grow with the crowd), and a cold claim waits on exactly those')
  if (cmp.coldP95Pct && cmp.coldP95Pct.value > GOAL.coldP95Pct) out.push('predicted cold claims wait longer than measured')
  if (cmp.warmHitPp.value > GOAL.warmHitPp) out.push('the gateway refilled more slowly than predicted: its controller passes run on an event loop shared with the claims, the model reconciles at once')
  if (cmp.warmHitPp.value < -GOAL.warmHitPp) out.push('the gateway refilled faster than predicted, or its policy saw a different claim rate or refill time')
  if (cmp.warmHitPp.halfWidth !== undefined && Math.abs(cmp.warmHitPp.value) > GOAL.warmHitPp && Math.abs(cmp.warmHitPp.value) <= cmp.warmHitPp.halfWidth) out.push('the warm-hit difference is within its own interval (the blocks disagree among themselves by more than the goal)')
  if (cmp.coldP95Pct && cmp.coldP95Pct.halfWidth !== undefined && Math.abs(cmp.coldP95Pct.value) <= cmp.coldP95Pct.halfWidth) out.push('the cold-wait p95 difference is within its own interval')
  return out
}

export interface FidelityRun {
  readonly plan: FidelityPlan
  readonly cells: readonly FidelityCell[]
  readonly driver: FidelityDriver
  readonly quick: boolean
  /** The machine and date of the replays, the command that ran them and how long it took. */
  readonly machine: MachineInfo | undefined
  readonly date: string | undefined
  readonly command: string
  readonly wallS: number
  /** The command that predicted them again from the saved file (absent: the run's own predictions). */
  readonly predictedBy?: string
}

export function fidelityMarkdown(o: FidelityRun & { readonly chart: string }): string {
  const { plan, cells } = o
  const row = (c: FidelityCell) => {
    const x: Comparison = c.comparison
    const g = meetsGoal(x)
    const verdict = g.warm && g.coldP95 !== false ? 'met' : 'missed'
    return `| ${c.trace} | ${c.policy} | ${c.arrivals} | ${f(x.measured.warmHitRate * 100, 1)} % | ${f(x.predicted.warmHitRate * 100, 1)} % | ${diff(x.warmHitPp, ' pp')} | ${ms(x.measured.coldP50S)} / ${ms(x.predicted.coldP50S)} | ${diff(x.coldP50Pct, ' %')} | ${ms(x.measured.coldP95S)} / ${ms(x.predicted.coldP95S)} | ${diff(x.coldP95Pct, ' %')} | ${f(x.measured.sandboxS, 0)} / ${f(x.predicted.sandboxS, 0)} | ${diff(x.sandboxSPct, ' %')} | ${verdict} |`
  }
  const missed = cells.filter((c) => { const g = meetsGoal(c.comparison); return !g.warm || g.coldP95 === false })
  const why = missed.map((c) => {
    const r = reasons(c, o.machine?.cores)
    return `- **${c.trace} x ${c.policy}**: ${r.length ? r.join('; ') : 'none of the usual causes stands out in the replay (failures, unseen creates, spread of create times, late arrivals); compare the pool series in the JSON'}.`
  })
  return `# Fidelity: the simulator's predictions against the live gateway

Measured by \`${o.command}\`${o.quick ? ' (**quick run**: a check that the pipeline works, too few arrivals for figures to publish)' : ''}.
${o.predictedBy ? `Predicted again from those measurements (fidelity.json, no replay) by \`${o.predictedBy}\`, with the model described below.\n` : ''}Each trace is replayed through a gateway started for it alone (driver **${o.driver}**, one pool:
maxSize 128, 16 concurrent creates), time-compressed by ${plan.speed}: an arrival at t creates a
session at t / ${plan.speed}, keeps its terminal open for durationS / ${plan.speed}, then ends it. The
simulator then predicts the same compressed timeline from the replay's own measurements
(\`sim --starts-from\`). The model: the pool's spec as the gateway ran it (maxClaimWaiters
included: a claim beyond it is refused, as the gateway refuses it); sandbox creates from each
create's own duration and launch time (the pool's \`status.starts\`), run as each create's time
alone on the processors fitted to how they slowed each other down (\`createCores\`: processor
sharing, each of n creates in flight at min(1, createCores / n) of its speed alone), a
predicted create drawing its time alone among the replay's creates launched nearest its own
moment (\`createNearest\` of them, the window that best predicts a create's time from its
neighbours', by leave-one-out cross-validation; \`sim --create-draws timed\`), so the machine's
slow minutes stay where they were on the timeline instead of spreading over the run; every
finished create handed to the oldest waiting claim, as the gateway does; each cold claim's own
time after its sandbox was ready (connect, workspace bind, claim) drawn from those measured;
warm claims taking the median warm claim. ${plan.sims} simulator seeds per replay; the prediction is their mean.

Traces (trace time; exponential sessions of mean ${plan.sessionMeanS} s; seed ${plan.seed}): a day
of history (${plan.historyS} s), then the measured part:
${plan.traces.map((t) => `- **${t.name}**: \`${JSON.stringify(t.shape)}\` over ${plan.historyS} + ${t.durationS} s`).join('\n')}

${plan.withHistory.map((p) => `**${p}**`).join(', ')} replays the day of history first (the gateway records
its claims, and so does the simulation of the same replay), then the measured part: its
forecast reads "yesterday" one compressed day (\`dayS\`) back. The other policies replay the
measured part alone. Every policy is measured on the same arrivals.

Policies: ${Object.entries(plan.policies).map(([k, v]) => `**${k}** \`${JSON.stringify(v)}\``).join(', ')}.

Goal: predicted warm-hit rate within ±${GOAL.warmHitPp} percentage points of the measured one, and
predicted cold-wait p95 within ${GOAL.coldP95Pct} % of the measured one, for every trace x policy.

| trace | policy | arrivals | warm hits measured | predicted | difference | cold wait p50 ms (measured / predicted) | difference | cold wait p95 ms | difference | sandbox-seconds | difference | goal |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
${cells.map(row).join('\n')}

Differences are predicted against measured (points for the warm-hit rate, percent of the
measured figure otherwise).${o.cells.some((c) => c.record.arrivals === undefined) ? ' This file was written before each arrival was kept: its differences are taken on the measured figures it saved, without intervals; a new run keeps the arrivals and has them.' : ''} The ± is a 95 % interval by paired batch means: the replay's
arrivals are cut into ${plan.blocks} blocks of equally many consecutive arrivals, the difference is taken in
each block (the simulator's seeds averaged), and Student's t goes over the blocks. A cold-wait
interval uses the blocks with cold claims on both sides. The warm-hit rate counts every claim, the refused
ones too (as misses), as the gateway's \`lab_claims_total\` does; the miss rate is 100 % minus it. Sandbox-seconds are the time integral of the sandboxes alive (ready, starting or claimed;
measured: the pool's \`total - destroying\` every 100 ms) from the first arrival to the last session's due end.

![predicted vs measured](${o.chart})
${untimedSection(cells)}
## Verdict

${missed.length === 0 ? `Every trace x policy meets the goal${o.quick ? ' (quick run: too few arrivals to mean much)' : ''}.` : `${cells.length - missed.length} of ${cells.length} meet the goal. Where it misses, what the replay shows:\n\n${why.join('\n')}`}

## Provenance

- Machine: ${o.machine ? machineLine(o.machine) : 'not recorded in the file'}; 1-minute load average at the end of each replay: ${cells.map((c) => f(c.loadAverage, 1)).join(', ')} (nothing else ran: the load is the replays' own sandboxes and gateway)
- Creates' windows (\`createNearest\`, per cell in the table's order): ${cells.map((c) => c.createNearest ?? 'all').join(', ')}
- Date: ${o.date ?? 'not recorded in the file'}
- Wall time: ${f(o.wallS / 60, 1)} min
- Command: \`${o.command}\`
- Data: [fidelity.json](fidelity.json) (per cell: both sides' figures, the differences, and the replay's record: its sim-shaped figures, every create's launch time and duration, and what \`fidelity --from\` reads)
`
}

/**
 * The same predictions with each create drawing among all the replay's creates (\`sim
 * --create-draws any\`): how much of the fit comes from knowing when the machine was slow.
 */
function untimedSection(cells: readonly FidelityCell[]): string {
  const withIt = cells.filter((c) => c.untimed !== undefined)
  if (withIt.length === 0) return ''
  const met = withIt.filter((c) => { const g = meetsGoal(c.untimed!); return g.warm && g.coldP95 !== false }).length
  const rows = withIt.map((c) => {
    const x = c.untimed!
    const g = meetsGoal(x)
    return `| ${c.trace} | ${c.policy} | ${f(x.predicted.warmHitRate * 100, 1)} % | ${diff(x.warmHitPp, ' pp')} | ${ms(x.predicted.coldP95S)} | ${diff(x.coldP95Pct, ' %')} | ${g.warm && g.coldP95 !== false ? 'met' : 'missed'} |`
  })
  return `
### The same predictions without the creates' times

Each predicted create drawing its time among all the replay's creates (\`sim --create-draws any\`),
as a plan for a day whose slow moments are not known in advance must: ${met} of ${withIt.length} meet the goal.
The difference from the table above is what knowing *when* creates were slow is worth; the
processor sharing, the pool's policy and everything else are the same.

| trace | policy | warm hits predicted | difference | cold wait p95 ms predicted | difference | goal |
|---|---|---|---|---|---|---|
${rows.join('\n')}
`
}

export async function fidelityChart(cells: readonly FidelityCell[]): Promise<string> {
  return renderSvg(scatterChart(
    `Warm-hit rate, predicted against measured (red: outside ±${GOAL.warmHitPp} points)`, 'measured warm-hit rate (%)', 'predicted warm-hit rate (%)',
    cells.map((c) => ({
      x: c.comparison.measured.warmHitRate * 100, y: c.comparison.predicted.warmHitRate * 100,
      frontier: !meetsGoal(c.comparison).warm, label: `${c.trace} x ${c.policy}`,
    })),
  ))
}
