import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fidelityChart, fidelityMarkdown, type FidelityRun } from './fidelity-report.ts'

export const FIDELITY_FILES = ['fidelity.md', 'fidelity.json', 'fidelity.svg'] as const


/**
 * Writes fidelity.md, .svg and .json into `dir`; returns the markdown. The JSON keeps each
 * cell's record (what `fidelity --from` reads back) beside its comparison.
 */
export async function writeFidelity(dir: string, run: FidelityRun): Promise<string> {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'fidelity.svg'), await fidelityChart(run.cells))
  const md = fidelityMarkdown({ ...run, chart: 'fidelity.svg' })
  writeFileSync(join(dir, 'fidelity.md'), md)
  const json = {
    generatedBy: run.command, ...(run.predictedBy ? { predictedBy: run.predictedBy } : {}),
    quick: run.quick, driver: run.driver, date: run.date, machine: run.machine, plan: run.plan, wallS: run.wallS,
    cells: run.cells.map((c) => ({
      trace: c.trace, policy: c.policy, arrivals: c.arrivals, createCores: c.createCores ?? null, createNearest: c.createNearest ?? null, loadAverage: c.loadAverage,
      comparison: c.comparison, ...(c.untimed ? { untimed: c.untimed } : {}), replay: c.record,
    })),
  }
  writeFileSync(join(dir, 'fidelity.json'), `${JSON.stringify(json, null, 2)}\n`)
  return md
}
