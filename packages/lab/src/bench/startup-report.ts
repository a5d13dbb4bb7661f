import { LatencyHistogram, type LatencyStats } from './histogram.ts'
import type { MachineInfo } from './machine.ts'
import type { MemoryResult } from './memory.ts'
import { barChart, formatMs, provenance, squeeze } from './report.ts'
import type { DrainedSeries, Series } from './startup-series.ts'
import { stepP50s, stepsMarkdown, warmVerdict, withFloor, type StepP50 } from './startup-floor.ts'

export interface SeriesResult {
  readonly name: string
  readonly how: string
  /** POST /v1/sessions to the first prompt byte; `warmup` says how many starts were left out. */
  readonly totalMs: LatencyStats
  /** The gateway's own claim time (timings.claimMs). */
  readonly claimMs: LatencyStats
  readonly warmHits: number
  /** The same starts against the transport floor (floor-server.ts), interleaved with these. */
  readonly floorMs?: LatencyStats
  /** p50 per step: the client's beside the floor's, then the gateway's claim steps. */
  readonly steps?: readonly StepP50[]
}

export interface SweepResult extends SeriesResult {
  readonly concurrency: number
}

export interface DrainedResult {
  readonly poolSize: number
  readonly rounds: number
  /** The users beyond the pool (the (N+1)-th of each round): their wait is a cold start under load. */
  readonly beyond: SeriesResult
  readonly within: SeriesResult
}

/** A driver asked for but not measured: not available here (`skipped`) or its run failed. */
export interface SkippedDriver {
  readonly driver: string
  readonly outcome: 'skipped' | 'failed'
  readonly reason: string
}

export interface StartupReport {
  readonly benchmark: 'startup'
  readonly driver: string
  readonly partial: boolean
  readonly machine: MachineInfo
  readonly date: string
  readonly command: string
  /** Drivers asked for in the same run that could not be measured here. */
  readonly skipped: readonly SkippedDriver[]
  /** warm, burst xC, cold (the rows of the original benchmark). */
  readonly results: readonly SeriesResult[]
  readonly sweep: readonly SweepResult[]
  readonly drained?: DrainedResult
  readonly memory?: MemoryResult
  /** 1-minute load average at the start and the end of this driver's run: other work on the machine shows here. */
  readonly load?: { readonly cores: number; readonly atStart: number; readonly atEnd: number }
}

/** HDR statistics in ms (recorded in µs, 3 significant digits) with n and the warm-up count. */
export function msStats(values: readonly number[], warmup: number): LatencyStats {
  const h = new LatencyHistogram()
  try {
    for (const v of values) if (Number.isFinite(v)) h.record(v * 1000)
    h.warmup = warmup
    return h.stats(1000)
  } finally {
    h.destroy()
  }
}

export function seriesResult(s: Series): SeriesResult {
  const measured = s.samples.some((x) => Number.isFinite(x.postMs))
  return {
    name: s.name, how: s.how,
    totalMs: msStats(s.samples.map((x) => x.totalMs), s.warmup),
    claimMs: msStats(s.samples.map((x) => x.claimMs), s.warmup),
    warmHits: s.samples.filter((x) => x.warm).length,
    ...(s.floor.length ? { floorMs: msStats(s.floor.map((x) => x.totalMs), s.warmup) } : {}),
    ...(measured ? { steps: stepP50s(s.samples, s.floor, msStats) } : {}),
  }
}

export function drainedResult(d: DrainedSeries): DrainedResult {
  return { poolSize: d.poolSize, rounds: d.rounds, beyond: seriesResult(d.beyond), within: seriesResult(d.within) }
}

const HEAD = [
  '| run | n | warm-up | p50 | floor p50 | p50 / floor | p99 | floor p99 | p99 / floor | p95 | max | warm hits | gateway claim p50 | how |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
]

function row(r: SeriesResult): string {
  const t = r.totalMs
  const f = r.floorMs
  return `| ${r.name} | ${t.n} | ${t.warmup} | ${withFloor(t.p50, f?.p50)} | ${withFloor(t.p99, f?.p99)} | ${formatMs(t.p95)} | ${formatMs(t.max)} | ${r.warmHits}/${t.n} | ${formatMs(r.claimMs.p50)} | ${r.how} |`
}

export function renderStartupMarkdown(r: StartupReport): string {
  const warm = r.results.find((x) => x.name === 'warm')
  const cold = r.results.find((x) => x.name === 'cold')
  const base = `startup-${r.driver}`
  const lines = [
    `# Session start-up, end to end (${r.driver} driver)`,
    '',
    r.partial ? '**Partial run (interrupted): figures cover the samples taken before the interruption.**\n' : '',
    'Time from `POST /v1/sessions` to the first shell prompt byte on the terminal WebSocket, measured by a',
    'client in its own process against a gateway in its own process, over loopback. Milliseconds, HDR',
    'histogram; `n` samples per row, `warm-up` starts before them left out.',
    '',
    'Each figure stands beside its **transport floor**: the same client doing the same steps, at the same',
    'concurrency, against a server in its own process on the gateway\'s stack (fastify + @fastify/websocket) that',
    'does no work (it answers `POST /v1/sessions` at once with a body of the same shape and sends one byte when the',
    'terminal opens), measured in the same run, interleaved with the real starts. Absolute figures move 2-3x',
    'between machines; the ratio to the floor says what the gateway adds on this one.',
    '',
    ...(r.load ? [`Load: the 1-minute load average was ${r.load.atStart} at the start and ${r.load.atEnd} at the end of this run, on ${r.load.cores} cores.`, ''] : []),
    ...(warm?.floorMs ? [warmVerdict(warm.totalMs, warm.floorMs), ''] : []),
    ...HEAD,
    ...r.results.map(row),
    '',
    '```',
    barChart(r.results.map((x) => ({ label: `${x.name} p50`, value: x.totalMs.p50 }))),
    '```',
    '',
  ]
  if (warm && cold && warm.totalMs.n > 0 && cold.totalMs.n > 0) {
    lines.push(`Cold / warm, p50: **${(cold.totalMs.p50 / warm.totalMs.p50).toFixed(1)}x**; p99: ${(cold.totalMs.p99 / warm.totalMs.p99).toFixed(1)}x.`, '')
  }
  if (warm?.steps && warm.floorMs) {
    lines.push('## Where a warm start\'s time goes', '', 'p50 of each step of the warm run. The gateway\'s claim steps (its `timings`) happen inside the POST; `agentReadyMs` (claim sent to the agent\'s `ready`) and `agentApplyMs` (the agent\'s own part) run on after the response, beside the client\'s next steps; the prompt\'s first byte follows `ready`.', '', ...stepsMarkdown(warm.steps))
  }
  if (r.sweep.length) {
    lines.push(
      '## Concurrency sweep',
      '',
      'C sessions started at once against a full warm pool of at least C (refilled between rounds; the first',
      `round of each level is warm-up). Chart: [${base}-sweep.svg](${base}-sweep.svg).`,
      '',
      HEAD[0]!.replace('| run |', '| C |'),
      HEAD[1]!,
      ...r.sweep.map((s) => row({ ...s, name: String(s.concurrency) })),
      '',
    )
  }
  if (r.drained) {
    const d = r.drained
    lines.push(
      '## Pool drained',
      '',
      `${d.poolSize + 1} users start at once against a full pool of ${d.poolSize}, ${d.rounds} rounds. A user the pool cannot serve waits for`,
      'a cold start while the pool refills for the others; when a refilled sandbox is ready before that user\'s claim arrives it is',
      `served warm instead, so the drained row has at most one sample per round (${d.beyond.totalMs.n} of ${d.rounds} here).`,
      '',
      ...HEAD,
      row(d.within),
      row(d.beyond),
      '',
      `**User ${d.poolSize + 1} waits ${formatMs(d.beyond.totalMs.p50)} ms** (p50, n=${d.beyond.totalMs.n}, max ${formatMs(d.beyond.totalMs.max)} ms)` +
        (cold && cold.totalMs.n > 0 ? `, against ${formatMs(cold.totalMs.p50)} ms for a cold start on an idle gateway.` : '.'),
      '',
    )
  }
  if (r.memory) {
    const m = r.memory
    lines.push(
      '## Memory of a warm sandbox',
      '',
      `Marginal PSS per warm sandbox (agent + shell + isolation, slope over ${m.points.length} sandboxes): **${m.slopeMb.toFixed(1)} MB** (intercept ${m.interceptMb.toFixed(1)} MB, r² ${m.r2.toFixed(3)}).`,
      `Total PSS at ${m.points.length} sandboxes: ${m.points[m.points.length - 1]!.pssMb.toFixed(1)} MB.`,
      '',
    )
  }
  if (r.skipped.length) {
    lines.push('## Drivers not measured in this run', '', ...r.skipped.map((s) => `- ${s.driver}: ${s.outcome}: ${s.reason}`), '')
  }
  lines.push(`Charts: [${base}.svg](${base}.svg). Raw data: [${base}.json](${base}.json).`, '')
  lines.push('## Provenance', '', provenance(r.machine, r.command, new Date(r.date)), '')
  return squeeze(lines)
}
