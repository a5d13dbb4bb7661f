import type { BackpressureOptions, BackpressureRound, BackpressureRun } from './backpressure.ts'
import type { LatencyStats } from './histogram.ts'
import type { MachineInfo } from './machine.ts'
import { formatMs, formatRatio, provenance, squeeze } from './report.ts'
import { msStats } from './startup-report.ts'

/** Goals of the run: what one slow viewer may cost the gateway and the other sessions. */
export const RSS_RISE_GOAL_MIB = 64
export const P50_RATIO_GOAL = 2

export interface BackpressureSummary {
  readonly noFlood: LatencyStats
  readonly flood: LatencyStats
  /** p50 during the floods over p50 with no flood. */
  readonly p50Ratio: number
  readonly p99Ratio: number
  /** Peak VmRSS minus VmRSS before the first flood. */
  readonly rssRiseMiB: number
  readonly rssGoalMet: boolean
  readonly latencyGoalMet: boolean
}

export interface BackpressureReport {
  readonly benchmark: 'backpressure'
  readonly driver: 'local'
  readonly machine: MachineInfo
  readonly date: string
  readonly command: string
  readonly options: BackpressureOptions
  /** 1-minute load average around the run: other work on the machine shows here. */
  readonly load: { readonly cores: number; readonly atStart: number; readonly atEnd: number }
  readonly note?: string
  readonly summary: BackpressureSummary
  readonly partial: boolean
  readonly rounds: readonly RoundReport[]
  /** VmRSS before the first flood, the largest sample, after the last flood; and the largest sample of each second. */
  readonly rss: { readonly beforeMiB: number; readonly peakMiB: number; readonly afterMiB: number; readonly perSecond: readonly { atS: number; maxMiB: number }[] }
}

export interface RoundReport extends Omit<BackpressureRound, 'baselineMs' | 'floodMs'> {
  readonly noFlood: LatencyStats
  readonly flood: LatencyStats
}

type Meta = Pick<BackpressureReport, 'machine' | 'date' | 'command' | 'options' | 'load' | 'note'>

/** The results file: statistics per round and per condition, RSS per second (the raw run is ~0.5 MB). */
export function buildReport(run: BackpressureRun, meta: Meta): BackpressureReport {
  const perSecond = new Map<number, number>()
  for (const s of run.rss.samples) {
    const atS = Math.floor(s.atMs / 1000)
    perSecond.set(atS, Math.max(perSecond.get(atS) ?? 0, round2(s.mib)))
  }
  return {
    benchmark: 'backpressure', driver: 'local', ...meta,
    summary: summarize(run),
    partial: run.partial,
    rounds: run.rounds.map(({ baselineMs, floodMs, ...r }) => ({ ...r, floodSeconds: round2(r.floodSeconds), noFlood: msStats(baselineMs, 0), flood: msStats(floodMs, 0) })),
    rss: { beforeMiB: round2(run.rss.beforeMiB), peakMiB: round2(run.rss.peakMiB), afterMiB: round2(run.rss.afterMiB), perSecond: [...perSecond].map(([atS, maxMiB]) => ({ atS, maxMiB })) },
  }
}

const round2 = (v: number) => Math.round(v * 100) / 100

export function summarize(run: BackpressureRun): BackpressureSummary {
  const noFlood = msStats(run.rounds.flatMap((r) => r.baselineMs), 0)
  const flood = msStats(run.rounds.flatMap((r) => r.floodMs), 0)
  const p50Ratio = flood.p50 / noFlood.p50
  const rssRiseMiB = run.rss.peakMiB - run.rss.beforeMiB
  return {
    noFlood, flood, p50Ratio, p99Ratio: flood.p99 / noFlood.p99, rssRiseMiB,
    rssGoalMet: rssRiseMiB < RSS_RISE_GOAL_MIB, latencyGoalMet: p50Ratio <= P50_RATIO_GOAL,
  }
}

const mib = (v: number) => v.toFixed(1)
const met = (ok: boolean) => (ok ? 'met' : '**not met**')

export function renderBackpressureMarkdown(r: BackpressureReport): string {
  const s = r.summary
  const o = r.options
  const rss = r.rss
  const row = (name: string, st: LatencyStats) => `| ${name} | ${st.n} | ${formatMs(st.p50)} | ${formatMs(st.p95)} | ${formatMs(st.p99)} | ${formatMs(st.max)} |`
  return squeeze([
    `# Back-pressure: one slow viewer of a ${o.floodMiB} MiB flood (local driver)`,
    '',
    r.partial ? '**Partial run (interrupted); the rounds taken are below.**\n' : '',
    `Session A runs \`yes | head -c ${o.floodMiB}M\` with one terminal viewer that never reads (its TCP socket is paused).`,
    'Session B, on the same gateway, types `echo <n>` and Enter and waits for the line `<n>` to come back:',
    `${o.baselineSamples} times with no flood, then throughout the flood, ${o.rounds} round(s) alternating, ${o.gapMs} ms between round trips.`,
    'The gateway runs as its own process (local driver, pool of 2); its VmRSS is sampled every 100 ms.',
    '',
    '| | goal | measured | |',
    '|---|---|---|---|',
    `| gateway RSS rise (peak minus before the first flood) | < ${RSS_RISE_GOAL_MIB} MiB | ${mib(s.rssRiseMiB)} MiB (before ${mib(rss.beforeMiB)}, peak ${mib(rss.peakMiB)}, after ${mib(rss.afterMiB)}) | ${met(s.rssGoalMet)} |`,
    `| B's echo round trip p50, flood / no flood | <= ${P50_RATIO_GOAL}x | ${formatRatio(s.p50Ratio)} (p99: ${formatRatio(s.p99Ratio)}) | ${met(s.latencyGoalMet)} |`,
    '',
    '| B\'s echo round trip (ms) | n | p50 | p95 | p99 | max |',
    '|---|---|---|---|---|---|',
    row('no flood', s.noFlood),
    row('during the flood', s.flood),
    '',
    '| round | flood took | MiB/s | p50 no flood | p50 flood | round trips in flood | RSS at flood start | RSS peak | slow viewer closed with | re-attach got |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...r.rounds.map((x) => {
      return `| ${x.round} | ${x.floodSeconds.toFixed(1)} s | ${(o.floodMiB / x.floodSeconds).toFixed(1)} | ${formatMs(x.noFlood.p50)} ms | ${formatMs(x.flood.p50)} ms | ${x.flood.n} | ${mib(x.rssAtFloodStartMiB)} MiB | ${mib(x.rssPeakMiB)} MiB | ${x.slowViewerClose ?? 'still open'} | ${x.reattachBytes} bytes |`
    }),
    '',
    'The slow viewer reads again only after its flood: 1013 means the gateway closed it for falling behind; 1006 means the',
    'connection was gone before it read a close frame (ws drops a connection whose peer leaves the close frame unread for',
    '30 s; packages/lab/test/backpressure.test.ts shows the 1013 itself). "Re-attach got" is the scrollback a fresh viewer',
    'of session A received (the tail of the flood and the prompt).',
    '',
    `Load: the 1-minute load average was ${r.load.atStart} at the start and ${r.load.atEnd} at the end, on ${r.load.cores} cores.`,
    r.note ? `Note: ${r.note}` : '',
    '',
    'Data: [backpressure-local.json](backpressure-local.json) (statistics per round, the largest RSS sample of each second).',
    '',
    '## Provenance', '', provenance(r.machine, r.command, new Date(r.date)), '',
  ])
}
