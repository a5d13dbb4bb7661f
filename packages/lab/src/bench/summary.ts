import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { machineLine, type MachineInfo } from './machine.ts'
import { formatMs, formatRate, formatRatio, squeeze } from './report.ts'

interface Row { experiment: string; metric: string; result: string; link: string }

/** One summary row per results JSON in `dir` (the shape of the original lab's README table). */
export function summaryRows(dir: string): Row[] {
  const rows: Row[] = []
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const j = JSON.parse(readFileSync(join(dir, f), 'utf8'))
    const md = f.replace(/\.json$/, '.md')
    const partial = j.partial ? ' (partial)' : ''
    if (j.benchmark === 'fs') {
      for (const op of ['create', 'unlink', 'stat', 'mkdir']) {
        const r = j.ratios?.find((x: { op: string; concurrency: number }) => x.op === op && x.concurrency === 1)
        const l = j.results?.find((x: { op: string; concurrency: number }) => x.op === op && x.concurrency === 1)
        if (!r || !l) continue
        rows.push({ experiment: `fs ${j.fsType} ${op}, 1 worker`, metric: 'ops/s (vs native loop); p50', result: `${formatRate(r.opsPerS)} (${formatRatio(r.vsNative)}); ${formatMs(l.latencyUs.p50)} µs (n=${l.latencyUs.n})${partial}`, link: md })
      }
    } else if (j.benchmark === 'api') {
      for (const r of j.results ?? []) {
        rows.push({ experiment: `driver ${j.driver}: ${r.call}`, metric: 'latency p50 / p99', result: `${formatMs(r.latencyMs.p50)} / ${formatMs(r.latencyMs.p99)} ms (n=${r.latencyMs.n})${partial}`, link: md })
      }
    } else if (j.benchmark === 'startup') {
      for (const r of j.results ?? []) {
        rows.push({ experiment: `session start ${r.name} (${j.driver})`, metric: 'POST to first prompt byte, p50 / p99', result: `${formatMs(r.totalMs.p50)} / ${formatMs(r.totalMs.p99)} ms (n=${r.totalMs.n})${partial}`, link: md })
      }
      if (j.memory) rows.push({ experiment: `warm sandbox memory (${j.driver})`, metric: 'marginal PSS', result: `${j.memory.slopeMb.toFixed(1)} MB`, link: md })
    }
  }
  return rows
}

export function writeSummary(dir: string, machine: MachineInfo, command: string, notes: readonly string[], date = new Date()): string {
  const rows = summaryRows(dir)
  const lines = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (`infra-lab bench all`). Each linked file states its own machine, date and exact command;',
    'raw JSON and SVG charts sit beside it.',
    '',
    '| experiment | metric | result | details |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.experiment} | ${r.metric} | ${r.result} | [${r.link}](${r.link}) |`),
    '',
    ...(notes.length ? ['## Notes from this run', '', ...notes.map((n) => `- ${n}`), ''] : []),
    '## Provenance', '',
    `- Machine: ${machineLine(machine)}`, `- Date: ${date.toISOString()}`, `- Command: \`${command}\``, '',
  ]
  const file = join(dir, 'README.md')
  writeFileSync(file, squeeze(lines))
  return file
}
