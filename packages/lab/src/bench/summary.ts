import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
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
        // Ratios to the transport floor first: they travel between machines, milliseconds do not.
        const f = r.floorMs
        rows.push(f
          ? { experiment: `session start ${r.name} (${j.driver})`, metric: 'POST to first prompt byte, p50 / p99: x the floor (ms)', result: `${formatRatio(r.totalMs.p50 / f.p50)} / ${formatRatio(r.totalMs.p99 / f.p99)} (${formatMs(r.totalMs.p50)} / ${formatMs(r.totalMs.p99)} ms; floor ${formatMs(f.p50)} / ${formatMs(f.p99)} ms; n=${r.totalMs.n})${partial}`, link: md }
          : { experiment: `session start ${r.name} (${j.driver})`, metric: 'POST to first prompt byte, p50 / p99', result: `${formatMs(r.totalMs.p50)} / ${formatMs(r.totalMs.p99)} ms (n=${r.totalMs.n})${partial}`, link: md })
      }
      for (const r of j.sweep ?? []) {
        rows.push({ experiment: `session start, ${r.concurrency} at once (${j.driver})`, metric: 'POST to first prompt byte, p50 / p99 / max', result: `${formatMs(r.totalMs.p50)} / ${formatMs(r.totalMs.p99)} / ${formatMs(r.totalMs.max)} ms (n=${r.totalMs.n})${partial}`, link: md })
      }
      if (j.drained) {
        const b = j.drained.beyond.totalMs
        rows.push({ experiment: `user ${j.drained.poolSize + 1} with a pool of ${j.drained.poolSize} (${j.driver})`, metric: 'wait for a cold start under load, p50 / max', result: `${formatMs(b.p50)} / ${formatMs(b.max)} ms (n=${b.n})${partial}`, link: md })
      }
      if (j.memory) rows.push({ experiment: `warm sandbox memory (${j.driver})`, metric: 'marginal PSS', result: `${j.memory.slopeMb.toFixed(1)} MB`, link: md })
      for (const x of j.skipped ?? []) rows.push({ experiment: `session start (${x.driver})`, metric: '-', result: `${x.outcome} in this run (see notes)`, link: md })
    } else if (j.benchmark === 'exec') {
      // Each goal as the run judged it: a ratio to a reference measured in the same run.
      for (const g of j.goals ?? []) {
        rows.push({ experiment: `exec (${j.driver}): ${g.goal}`, metric: 'value vs reference: ratio', result: `${formatMs(g.value)} vs ${formatMs(g.reference)}: ${formatRatio(g.ratio)} (${g.met ? 'met' : 'not met'})${partial}`, link: md })
      }
    } else if (j.benchmark === 'egress') {
      const s = j.starts
      const t = j.transfers
      rows.push({ experiment: 'warm start, egress allow vs none (local)', metric: 'POST to first byte p50: ratio (95 % interval)', result: `${formatRatio(s.ratio)} (${s.ratioCi[0]}-${s.ratioCi[1]}; ${s.withinNoise ? 'within noise' : 'not within noise'}; n=${s.allow.n})`, link: md })
      rows.push({ experiment: `CONNECT pass-through, ${t.mib} MiB`, metric: 'throughput vs direct loopback', result: `${formatRatio(t.connectRatio)} (goal 0.5: ${t.connectRatio >= 0.5 ? 'met' : 'not met'}); TLS ${formatRatio(t.connectTlsRatio)}; injecting ${formatRatio(t.injectedRatio)}`, link: md })
    } else if (j.generatedBy === 'infra-lab sim --results') {
      for (const sc of j.scenarios ?? []) {
        rows.push({ experiment: `capacity sim: ${basename(String(sc.file ?? sc.name), '.json')}`, metric: 'warm hits; claim wait p99 (simulated)', result: `${(sc.warmHitRate * 100).toFixed(1)}%; ${sc.wait.p99S.toFixed(2)} s`, link: md })
      }
      if (j.benchmark?.month) rows.push({ experiment: 'capacity simulator speed', metric: 'events/s (30 simulated days)', result: `${formatRate(j.benchmark.month.eventsPerS)} in ${j.benchmark.month.wallS.toFixed(1)} s`, link: md })
    }
  }
  return rows
}

/** Every results file but README.md, grouped by benchmark (the name up to its first `-` or `.`). */
export function resultFiles(dir: string): { benchmark: string; files: string[] }[] {
  const groups = new Map<string, string[]>()
  for (const f of readdirSync(dir).filter((x) => x !== 'README.md' && !x.startsWith('.')).sort()) {
    const key = f.split(/[-.]/)[0]!
    groups.set(key, [...(groups.get(key) ?? []), f])
  }
  return [...groups].map(([benchmark, files]) => ({ benchmark, files }))
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
    '## Files', '',
    'Every results file in this directory (files not written by this run keep their own date and command).', '',
    ...resultFiles(dir).map((g) => `- ${g.benchmark}: ${g.files.map((f) => `[${f}](${f})`).join(', ')}`),
    '',
    '## Provenance', '',
    `- Machine: ${machineLine(machine)}`, `- Date: ${date.toISOString()}`, `- Command: \`${command}\``, '',
  ]
  const file = join(dir, 'README.md')
  writeFileSync(file, squeeze(lines))
  return file
}
