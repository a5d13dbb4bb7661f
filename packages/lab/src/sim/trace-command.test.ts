import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from '../cli/run-cli.test-util.ts'
import { azureCsv, perMinute } from './azure-trace.test-util.ts'
import { parseTrace } from './trace.ts'

const START_MS = Date.parse('2026-01-05T00:00:00Z')

function scratch() {
  const dir = mkdtempSync(join(tmpdir(), 'trace-cli-'))
  return { dir, run: (argv: string[]) => runCli(argv, { cwd: dir }), read: (f: string) => readFileSync(join(dir, f), 'utf8') }
}

describe('infra-lab trace gen', () => {
  it('writes a trace the parser reads, the same for the same seed', async () => {
    const s = scratch()
    const argv = ['trace', 'gen', 'poisson', '--rate', '2', '--duration', '600', '--seed', '3', '--users', '4', '--session', 'constant:30']
    const r = await s.run([...argv, '--out', 'p.csv'])
    expect(r.code).toBe(0)
    const trace = parseTrace(s.read('p.csv'), START_MS)
    expect(r.stdout).toBe(`wrote p.csv: ${trace.t.length} arrivals over 600 s (${(trace.t.length / 600).toFixed(3)}/s)\n`)
    expect(Math.abs(trace.t.length - 1200)).toBeLessThan(4 * Math.sqrt(1200))
    expect(new Set(trace.durationS)).toEqual(new Set([30]))
    expect(trace.users).toBe(4)
    expect(s.read('p.csv')).toMatch(/^# infra-lab trace gen: poisson ratePerS=2 durationS=600\n# seed=3 session=constant:30 users=4 spanS=600\nt,durationS,user\n/)
    // Without --out the trace goes to stdout and the summary to stderr.
    const again = await s.run(argv)
    expect(again.stdout).toBe(s.read('p.csv'))
    expect(again.stderr).toBe(`trace: ${trace.t.length} arrivals over 600 s (${(trace.t.length / 600).toFixed(3)}/s)\n`)
  })

  it('generates diurnal and bursty traces with --session none', async () => {
    const s = scratch()
    expect((await s.run(['trace', 'gen', 'diurnal', '--peak-rate', '4', '--trough-rate', '0.5', '--compress', '24', '--duration', '7200', '--session', 'none', '--out', 'd.csv'])).code).toBe(0)
    const d = parseTrace(s.read('d.csv'), START_MS)
    expect(d.durationS).toBeUndefined()
    expect(Math.abs(d.t.length - 7200 * 2.25)).toBeLessThan(4 * Math.sqrt(7200 * 2.25))
    expect((await s.run(['trace', 'gen', 'bursty', '--rate', '1', '--burst-rate', '20', '--burst-every', '600', '--burst-duration', '30', '--out', 'b.csv'])).code).toBe(0)
    expect(parseTrace(s.read('b.csv'), START_MS).t.length).toBeGreaterThan(3600 * 1.8)
  })

  it('says which flag is missing or wrong', async () => {
    const s = scratch()
    const cases: [string[], number | undefined, string][] = [
      [['diurnal', '--peak-rate', '4'], 2, 'infra-lab trace gen diurnal: diurnal needs --trough-rate\n'],
      [['diurnal', '--peak-rate', '1', '--trough-rate', '2'], 2, 'infra-lab trace gen diurnal: --trough-rate 2 is above --peak-rate 1\n'],
      [['diurnal', '--hourly', '1,2,3'], 2, 'infra-lab trace gen diurnal: --hourly needs 24 rates, one per hour (got 3)\n'],
      [['diurnal', '--peak-rate', '2', '--trough-rate', '1', '--compress', '2', '--period', '60'], 2, 'infra-lab trace gen diurnal: give --compress or --period, not both\n'],
      [['bursty', '--rate', '1', '--burst-rate', '5', '--burst-every', '10', '--burst-duration', '20'], 2, 'infra-lab trace gen bursty: --burst-duration 20 is longer than --burst-every 10\n'],
      [['poisson', '--rate', '1', '--session', 'gamma:2'], 2, 'infra-lab trace gen poisson: --session: session "gamma:2": give constant:S, exponential:MEAN, lognormal:MEAN:SIGMA (0 < SIGMA <= 5), uniform:MIN:MAX (seconds) or none\n'],
    ]
    for (const [argv, code, stderr] of cases) {
      const r = await s.run(['trace', 'gen', ...argv])
      expect({ argv, code: r.code, stderr: r.stderr }).toEqual({ argv, code, stderr })
    }
    const noRate = await s.run(['trace', 'gen', 'poisson'])
    expect(noRate.stderr).toMatch(/required option '--rate <per-s>' not specified/)
    const zero = await s.run(['trace', 'gen', 'poisson', '--rate', '0'])
    expect(zero.stderr).toMatch(/--rate must be a number > 0/)
    const shape = await s.run(['trace', 'gen', 'weekly'])
    expect(shape.stderr).toMatch(/unknown command 'weekly'/)
  })

  it('documents the format, the commands and examples in --help', async () => {
    const r = await runCli(['trace', '--help'])
    for (const f of ['gen', 'import-azure', 'info', 't,durationS,user', 'Examples:', 'infra-lab trace gen diurnal']) expect(r.stdout).toContain(f)
    const g = await runCli(['trace', 'gen', 'diurnal', '--help'])
    for (const f of ['--peak-rate', '--trough-rate', '--hourly', '--peak-hour', '--compress', '--period', '--duration', '--seed', '--out', '--session', '--users']) expect(g.stdout).toContain(f)
  })
})

describe('infra-lab trace import-azure', () => {
  const csv = azureCsv([
    { fn: 'f-a', counts: { 1: 3, 2: 0, 3: 7, 4: 1 } },
    { fn: 'f-b', counts: { 2: 2, 4: 30, 5: 9 } },
    { fn: 'f-c', counts: { 5: 1 } },
  ])

  it('writes each minute\'s count into that minute of the trace', async () => {
    const s = scratch()
    writeFileSync(join(s.dir, 'd01.csv'), csv)
    const one = await s.run(['trace', 'import-azure', 'd01.csv', '--function', 'f-a', '--minutes', '1-4', '--out', 'a.csv'])
    expect(one.stdout).toBe('wrote a.csv: 11 arrivals over 240 s (0.046/s)\n')
    expect(perMinute(parseTrace(s.read('a.csv'), START_MS).t, 4)).toEqual([3, 0, 7, 1])
    const top = await s.run(['trace', 'import-azure', 'd01.csv', '--top', '2', '--minutes', '2-5', '--spread', 'even', '--session', 'none', '--out', 'top.csv'])
    expect(top.code).toBe(0)
    expect(perMinute(parseTrace(s.read('top.csv'), START_MS).t, 4)).toEqual([2, 7, 31, 9])
    expect(s.read('top.csv')).toContain('# functions: f-b f-a\n')
    const all = await s.run(['trace', 'import-azure', 'd01.csv', '--all', '--minutes', '4-5', '--scale', '0.5', '--session', 'none', '--spread', 'even'])
    // Minute 4: 31 x 0.5 = 15.5, so 15 every 4 s and 0.5 carried; minute 5: 10 x 0.5 + 0.5 = 5.5, so 5.
    expect(all.stdout).toMatch(/\nt\n2\n6\n10\n(?:\d+\n){11}58\n66\n78\n90\n102\n114\n$/)
    expect(perMinute(parseTrace(all.stdout, START_MS).t, 2)).toEqual([15, 5])
  })

  it('says what is wrong with the selection or the file', async () => {
    const s = scratch()
    writeFileSync(join(s.dir, 'd01.csv'), csv)
    writeFileSync(join(s.dir, 'bad.csv'), `${csv}o,a,f-d,http,1,2\n`)
    writeFileSync(join(s.dir, 'huge.csv'), azureCsv([{ fn: 'f', counts: { 1: 20_000_000, 2: 10_000_000 } }], 2))
    const cases: [string[], number, string][] = [
      [['d01.csv'], 2, 'infra-lab trace import-azure: give exactly one of --function HASH, --top N, --all\n'],
      [['d01.csv', '--all', '--top', '1'], 2, 'infra-lab trace import-azure: give exactly one of --function HASH, --top N, --all\n'],
      [['d01.csv', '--all', '--minutes', 'noon'], 2, 'infra-lab trace import-azure: --minutes "noon": give FROM-TO or one minute, e.g. 481-960 (1-based, inclusive)\n'],
      [['d01.csv', '--all', '--minutes', '1400-1441'], 1, `infra-lab trace import-azure: ${join(s.dir, 'd01.csv')}: minute range 1400-1441 is not within the file's minutes 1-1440\n`],
      [['d01.csv', '--function', 'f-x'], 1, `infra-lab trace import-azure: ${join(s.dir, 'd01.csv')}: no row has HashFunction f-x (3 rows read)\n`],
      [['bad.csv', '--all'], 1, `infra-lab trace import-azure: ${join(s.dir, 'bad.csv')}: line 5: 6 fields, the header has 1444\n`],
      [['huge.csv', '--all'], 2, 'infra-lab trace import-azure: 30000000 arrivals: more than 10000000; give --scale 0.33 or less, or fewer --minutes\n'],
      [['huge.csv', '--all', '--scale', '0.5'], 2, 'infra-lab trace import-azure: 15000000 arrivals: more than 10000000; give --scale 0.33 or less, or fewer --minutes\n'],
      [['missing.csv', '--all'], 1, `infra-lab trace import-azure: ${join(s.dir, 'missing.csv')}: cannot read (ENOENT)\n`],
    ]
    for (const [argv, code, stderr] of cases) {
      const r = await s.run(['trace', 'import-azure', ...argv])
      expect({ argv, code: r.code, stderr: r.stderr }).toEqual({ argv, code, stderr })
    }
  })
})

describe('infra-lab trace info', () => {
  it('prints a trace\'s figures, or where it is bad', async () => {
    const s = scratch()
    writeFileSync(join(s.dir, 'ok.csv'), 't,durationS,user\n0,10,a\n30,20,b\n70,30,a\n80,40,a\n')
    const r = await s.run(['trace', 'info', 'ok.csv', '--json'])
    expect(JSON.parse(r.stdout)).toEqual({ arrivals: 4, lastS: 80, meanRatePerS: 0.05, busiestMinute: { index: 0, count: 2 }, durationS: { meanS: 25, maxS: 40 }, users: 2 })
    writeFileSync(join(s.dir, 'bad.csv'), 't\n5\n4\n')
    const bad = await s.run(['trace', 'info', 'bad.csv'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toBe(`infra-lab trace info: ${join(s.dir, 'bad.csv')}: line 3: time goes back: 4 s after 5 s on line 2 (sort the trace by time)\n`)
  })
})

describe('a generated trace in the simulator', () => {
  it('gives one session per arrival, each as long as its durationS', async () => {
    const s = scratch()
    await s.run(['trace', 'gen', 'poisson', '--rate', '0.5', '--duration', '3600', '--session', 'constant:60', '--out', 'p.csv'])
    const arrivals = parseTrace(s.read('p.csv'), START_MS).t.length
    writeFileSync(join(s.dir, 'sc.json'), JSON.stringify({
      durationS: 3600, seed: 1, arrivals: { kind: 'trace', file: 'p.csv' }, sessionS: { kind: 'trace' },
      sandbox: { startS: { kind: 'constant', valueS: 5 } }, policy: { kind: 'fixed', size: 200 },
    }))
    const r = await s.run(['sim', 'sc.json', '--json'])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { sessions: number; coldStarts: number }
    expect(out.sessions).toBe(arrivals)
    // 200 ready sandboxes and about 30 sessions at a time: every claim is warm after the first fill.
    expect(out.coldStarts).toBeLessThan(arrivals / 50)
  })
})
