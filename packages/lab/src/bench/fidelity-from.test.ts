import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cellTrace, fidelityPlan, makeTrace } from './fidelity.ts'
import { fidelityFromCommand } from './fidelity-from.ts'
import { captureIo } from '../io.test-util.ts'

const io = captureIo

const plan = { ...fidelityPlan(true), sims: 2, blocks: 2 }
const trace = cellTrace(plan, makeTrace(plan, plan.traces[0]!), 'fixed').trace
const n = trace.t.length

/**
 * A saved run of one cell (poisson x fixed): creates of 0.2 s each, one launched per arrival,
 * and the measured side as `withArrivals` says: each arrival kept (every one warm), or only the
 * figures (a file written before arrivals were kept).
 */
function savedFile(withArrivals: boolean): object {
  const atS = Array.from(trace.t, (t) => t / plan.speed)
  const record = {
    sessions: n, creates: { ok: n, failed: 0, recycled: 0, claimsFailed: 0 },
    createsS: atS.map(() => 0.2), createsAtS: atS.map((t) => t + 0.01), createsMissed: 0, claimS: 0.002, coldClaimsS: [],
    ...(withArrivals ? {
      arrivals: { atS, sentS: atS, path: atS.map(() => 'warm'), claimMs: atS.map(() => 2) },
      samples: { tS: [0], alive: [8] },
    } : {}),
  }
  return {
    generatedBy: 'npx infra-lab fidelity --quick --driver fake --out x', quick: true, driver: 'fake', plan, wallS: 60,
    cells: [{ trace: 'poisson', policy: 'fixed', arrivals: n, loadAverage: 0.5, createCores: null, replay: record,
      comparison: { measured: { claims: n, warmHitRate: 1, coldN: 0, coldP50S: 0, coldP95S: 0, sandboxS: 8 * 10 } } }],
  }
}

describe('infra-lab fidelity --from', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fidelity-from-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('predicts a saved run again without a replay, and writes the report and the file', async () => {
    writeFileSync(join(dir, 'saved.json'), JSON.stringify(savedFile(true)))
    const c = io(dir)
    expect(await fidelityFromCommand({ from: 'saved.json', out: 'again' }, c.io), c.stderr).toBe(0)
    const md = readFileSync(join(dir, 'again/fidelity.md'), 'utf8')
    expect(md).toContain('Measured by `npx infra-lab fidelity --quick --driver fake --out x`')
    expect(md).toContain('Predicted again from those measurements (fidelity.json, no replay) by `npx infra-lab fidelity --from saved.json --out again`')
    // A pool of 8 refilled in 0.2 s, claims at 6 a second: every claim is warm on both sides.
    expect(md).toMatch(new RegExp(`\\| poisson \\| fixed \\| ${n} \\| 100 % \\| 100 % \\| \\+0 pp ± 0 \\|`))
    const json = JSON.parse(readFileSync(join(dir, 'again/fidelity.json'), 'utf8')) as { predictedBy: string; cells: { comparison: { measured: { claims: number; refused: number }; predicted: { claims: number } }; replay: { createsS: number[] } }[] }
    expect(json.predictedBy).toBe('npx infra-lab fidelity --from saved.json --out again')
    expect(json.cells[0]!.comparison.measured).toMatchObject({ claims: n, refused: 0 })
    expect(json.cells[0]!.comparison.predicted.claims).toBe(n)
    // The record goes through unchanged: the written file can be predicted from again.
    expect(json.cells[0]!.replay.createsS).toHaveLength(n)
    const again = io(dir)
    expect(await fidelityFromCommand({ from: 'again/fidelity.json', out: 'twice' }, again.io), again.stderr).toBe(0)
    expect(readFileSync(join(dir, 'twice/fidelity.md'), 'utf8')).toContain('| poisson | fixed |')
  })

  it('compares a file without the arrivals on its saved figures, without intervals, and says so', async () => {
    writeFileSync(join(dir, 'old.json'), JSON.stringify(savedFile(false)))
    const c = io(dir)
    expect(await fidelityFromCommand({ from: 'old.json', out: 'old' }, c.io), c.stderr).toBe(0)
    const md = readFileSync(join(dir, 'old/fidelity.md'), 'utf8')
    expect(md).toContain('written before each arrival was kept')
    expect(md).toMatch(new RegExp(`\\| poisson \\| fixed \\| ${n} \\| 100 % \\| 100 % \\| \\+0 pp \\|`))
  })

  it('refuses a file that is not a fidelity.json, naming the field', async () => {
    const bad = savedFile(true) as { cells: { replay: { createsAtS: number[] } }[] }
    bad.cells[0]!.replay.createsAtS = [1]
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad))
    let c = io(dir)
    expect(await fidelityFromCommand({ from: 'bad.json', out: 'bad' }, c.io)).toBe(1)
    expect(c.stderr).toContain(`cells.0.replay.createsAtS: 1 launch times for ${n} creates`)
    c = io(dir)
    expect(await fidelityFromCommand({ from: 'missing.json', out: 'bad' }, c.io)).toBe(1)
    expect(c.stderr).toContain('cannot read it (ENOENT)')
  })
})
