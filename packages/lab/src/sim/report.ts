import { barChart, lineChart, renderSvg } from './charts.ts'
import type { SimResult } from './stats.ts'

const f = (x: number, d = 3) => (Number.isFinite(x) ? Number(x.toFixed(d)).toString() : String(x))

/** The default text output: one line per figure. */
export function resultTable(r: SimResult): string {
  const rows: [string, string][] = [
    ['sessions', String(r.sessions)],
    ['warm hit rate', `${f(r.warmHitRate * 100, 2)}%`],
    ['wait p50 / p95 / p99 / max', `${f(r.wait.p50S)} / ${f(r.wait.p95S)} / ${f(r.wait.p99S)} / ${f(r.wait.maxS)} s`],
    ['wait mean', `${f(r.wait.meanS)} s`],
    ['sandbox-seconds', f(r.sandboxS, 1)],
    ['cost total / per hour', `$${f(r.cost.total, 2)} / $${f(r.cost.perHour, 4)}`],
    ['cost per 1000 sessions', `$${f(r.cost.per1000Sessions, 4)}`],
    ['utilization sandbox / host', `${f(r.utilization.sandbox * 100, 1)}% / ${r.utilization.host === null ? '-' : `${f(r.utilization.host * 100, 1)}%`}`],
    ['pool target mean / ready mean', `${f(r.pool.meanTarget, 2)} / ${f(r.pool.meanReady, 2)}`],
    ['interruptions / AZ hosts lost', `${r.interruptions.hostInterruptions} / ${r.interruptions.azHostsLost}`],
    ['sessions moved / lost', `${r.interruptions.sessionsMoved} / ${r.interruptions.sessionsLost}`],
    ['creates ok / failed / recycled', `${r.creates.ok} / ${r.creates.failed} / ${r.creates.recycled}`],
    ['events', String(r.events)],
    ['wall time (events/s)', `${f(r.perf.wallS, 2)} s (${Math.round(r.perf.eventsPerS).toLocaleString('en-US')}/s)`],
  ]
  const w = Math.max(...rows.map((x) => x[0].length))
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n'
}

/** What `--json` prints: everything but the chart series (unless asked). */
export function resultJson(r: SimResult, withSeries = false): Omit<SimResult, 'series' | 'waitHistogram' | 'claims'> & Partial<SimResult> {
  if (withSeries) return r
  const { series: _s, waitHistogram: _w, claims: _c, ...rest } = r
  return rest
}

/** The three charts of a run, as SVG strings. */
export async function resultCharts(r: SimResult): Promise<{ waits: string; pool: string; cost: string }> {
  const s = r.series
  const hours = s.tS.map((t) => t / 3600)
  const rows = (name: string, ys: number[]) => ys.map((y, i) => ({ x: hours[i]!, y, c: name }))
  const h = r.waitHistogram
  const waits = await renderSvg(barChart(`Cold-start waits (${r.coldStarts} of ${r.sessions} claims; warm claims wait the claim path only)`, 'wait (s)', 'claims',
    h.counts.map((v, i) => ({ k: f((h.edgesS[i]! + h.edgesS[i + 1]!) / 2, 1), v }))))
  const pool = await renderSvg(lineChart('Pool level and demand', 'hours', 'sandboxes (arrivals: per minute)', [
    ...rows('ready', s.ready), ...rows('starting', s.starting), ...rows('claimed', s.claimed), ...rows('target', s.target),
    ...rows('arrivals/min', s.arrivalsPerS.map((x) => x * 60)),
  ]))
  const cost = await renderSvg(barChart(`Cost breakdown ($${f(r.cost.total, 2)} total)`, '', 'USD',
    Object.entries(r.cost.breakdown).map(([k, v]) => ({ k, v }))))
  return { waits, pool, cost }
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

/** A self-contained HTML report: the table and the charts inline. */
export async function resultHtml(r: SimResult, title: string): Promise<string> {
  const c = await resultCharts(r)
  return `<!doctype html><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:720px}pre{background:#f6f6f6;padding:1em}</style>
<h1>${esc(title)}</h1><pre>${esc(resultTable(r))}</pre>${c.waits}${c.pool}${c.cost}\n`
}
