import type { LatencyStats } from './histogram.ts'
import type { LoadOptions, LoadRun } from './load.ts'
import type { PoolHostSample, PoolHostSummary } from './load-probe.ts'
import { LOAD_STEPS, type LoadStep } from './load-session.ts'
import type { MachineInfo } from './machine.ts'
import { formatMs, provenance, squeeze } from './report.ts'
import { msStats } from './startup-report.ts'

/** How far the gateway's RSS and descriptors may be from their start once the run is over. */
export const LEAK_TOLERANCE = 0.1

export interface LoadReport {
  readonly benchmark: 'load'
  readonly driver: string
  readonly machine: MachineInfo
  readonly date: string
  readonly command: string
  readonly options: Omit<LoadOptions, 'pool'> & { readonly maxSize: number }
  /** 1-minute load average around the run: other work on the machine shows here. */
  readonly load: { readonly cores: number; readonly atStart: number; readonly atEnd: number }
  readonly note?: string
  readonly partial: boolean
  readonly sessions: {
    readonly attempted: number
    readonly warmupAttempted: number
    readonly succeeded: number
    readonly warmupSucceeded: number
    readonly warmHits: number
    /** Failures (warm-up included) that were not a 503 with Retry-After: sessions lost for a fault of ours. */
    readonly lost: number
    readonly failures: LoadRun['failures']
    readonly perS: number
    readonly durationS: number
  }
  readonly stepsMs: Readonly<Record<LoadStep, LatencyStats>>
  readonly gateway: LoadRun['gateway'] & {
    /** Least-squares slope of RSS over the second half of the run's samples: what a leak would keep adding. */
    readonly rssSlopeMiBPer1000Sessions: number | null
  }
  readonly poolVsHost: PoolHostSummary & { readonly atRest: PoolHostSample }
  readonly goals: readonly { readonly goal: string; readonly measured: string; readonly met: boolean }[]
}

type Meta = Pick<LoadReport, 'driver' | 'machine' | 'date' | 'command' | 'options' | 'load' | 'note'>

const within = (end: number, start: number) => Math.abs(end - start) <= start * LEAK_TOLERANCE
const pct = (end: number, start: number) => `${end >= start ? '+' : ''}${(((end - start) / start) * 100).toFixed(1)} %`

export function buildLoadReport(run: LoadRun, meta: Meta): LoadReport {
  const lost = run.failures.filter((f) => !f.retryable).reduce((n, f) => n + f.count, 0)
  const g = run.gateway
  const ph = run.poolVsHost
  const all = run.attempted + run.warmupAttempted
  const goals = [
    { goal: 'no lost session: each create succeeds end to end or gets a 503 with Retry-After', measured: `${lost} lost of ${all}`, met: lost === 0 },
    { goal: `gateway RSS at rest after the run within ${LEAK_TOLERANCE * 100} % of its start`, measured: `${g.start.rssMiB} -> ${g.end.rssMiB} MiB (${pct(g.end.rssMiB, g.start.rssMiB)})`, met: within(g.end.rssMiB, g.start.rssMiB) },
    { goal: `gateway file descriptors at rest after the run within ${LEAK_TOLERANCE * 100} % of its start`, measured: `${g.start.fds} -> ${g.end.fds} (${pct(g.end.fds, g.start.fds)})`, met: within(g.end.fds, g.start.fds) },
    {
      goal: 'the pool never counts fewer sandboxes than the driver lists on the host',
      measured: `${ph.hostAbovePool} of ${ph.samples} samples above; at rest pool ${ph.atRest.poolAfter}, host ${ph.atRest.host}`,
      met: ph.hostAbovePool === 0 && ph.atRest.host <= ph.atRest.poolAfter,
    },
  ]
  return {
    benchmark: 'load', ...meta, partial: run.partial,
    sessions: {
      attempted: run.attempted, warmupAttempted: run.warmupAttempted, succeeded: run.succeeded, warmupSucceeded: run.warmupSucceeded, warmHits: run.warmHits, lost, failures: run.failures,
      perS: Math.round((run.succeeded / run.durationS) * 100) / 100, durationS: Math.round(run.durationS),
    },
    stepsMs: Object.fromEntries(LOAD_STEPS.map((s) => [s, msStats(run.stepMs[s], run.warmupAttempted)])) as Record<LoadStep, LatencyStats>,
    gateway: { ...g, rssSlopeMiBPer1000Sessions: slopePer1000(g.samples.slice(Math.floor(g.samples.length / 2))) }, poolVsHost: ph, goals,
  }
}

function slopePer1000(points: readonly { sessions: number; rssMiB: number }[]): number | null {
  if (points.length < 3) return null
  const n = points.length
  const mx = points.reduce((a, p) => a + p.sessions, 0) / n
  const my = points.reduce((a, p) => a + p.rssMiB, 0) / n
  const sxx = points.reduce((a, p) => a + (p.sessions - mx) ** 2, 0)
  if (sxx === 0) return null
  const sxy = points.reduce((a, p) => a + (p.sessions - mx) * (p.rssMiB - my), 0)
  return Math.round((sxy / sxx) * 1000 * 100) / 100
}

const STEP_WHAT: Record<LoadStep, string> = {
  create: 'POST /v1/sessions -> 201',
  firstByte: 'terminal WebSocket requested -> first byte',
  command: '`echo load-<n>` typed -> its output line',
  end: 'DELETE /v1/sessions/{id} -> 204 (sandbox destroyed)',
  total: 'POST -> DELETE answered',
}

export function renderLoadMarkdown(r: LoadReport): string {
  const o = r.options
  const s = r.sessions
  const g = r.gateway
  const ph = r.poolVsHost
  const size = o.durationS === undefined ? `${o.sessions} sessions` : `${o.durationS} s`
  return squeeze([
    `# Load: ${size} from ${o.concurrency} concurrent clients (${r.driver} driver)`,
    '',
    r.partial ? '**Partial run (interrupted); what was measured is below.**\n' : '',
    `Each client does what a user does, back to back: POST /v1/sessions, open the terminal and wait for its first byte,`,
    `type \`echo load-<n>\` and wait for the line to come back, DELETE. A 503's Retry-After is honoured before that client's next try.`,
    `The gateway runs as its own process with one pool (${o.poolSize} warm, maxSize ${o.maxSize}); each client is its own user.`,
    '',
    '| goal | measured | |',
    '|---|---|---|',
    ...r.goals.map((x) => `| ${x.goal} | ${x.measured} | ${x.met ? 'met' : '**not met**'} |`),
    '',
    `Sessions: ${s.attempted} started after ${s.warmupAttempted} of warm-up; ${s.succeeded} succeeded end to end (${s.warmHits} warm), ${s.lost} lost (warm-up included);`,
    `${s.perS} sessions/s over ${s.durationS} s.`,
    '',
    '| failure (warm-up included) | count | retryable (503 with Retry-After) |',
    '|---|---|---|',
    ...(s.failures.length ? s.failures.map((f) => `| ${f.failure} | ${f.count} | ${f.retryable ? 'yes' : 'no'} |`) : ['| none | 0 | |']),
    '',
    `| step (ms) | what | n | p50 | p95 | p99 | max |`,
    '|---|---|---|---|---|---|---|',
    ...LOAD_STEPS.map((k) => {
      const x = r.stepsMs[k]
      return `| ${k} | ${STEP_WHAT[k]} | ${x.n} | ${formatMs(x.p50)} | ${formatMs(x.p95)} | ${formatMs(x.p99)} | ${formatMs(x.max)} |`
    }),
    '',
    'Latencies are of the successful sessions of the measured run (HDR histogram, 3 significant digits).',
    '',
    'The gateway at rest (pool full, no session, this client\'s kept-alive connections closed), and its V8 heap in use',
    '(`nodejs_heap_size_used_bytes`: a leak grows it; garbage not yet collected and allocator slack grow only RSS):',
    '',
    '| gateway process | before the warm-up | start of the run | end of the run |',
    '|---|---|---|---|',
    `| RSS (MiB) | ${g.beforeWarmup.rssMiB} | ${g.start.rssMiB} | ${g.end.rssMiB} |`,
    `| open file descriptors | ${g.beforeWarmup.fds} | ${g.start.fds} | ${g.end.fds} |`,
    `| V8 heap used (MiB) | ${g.beforeWarmup.heapUsedMiB} | ${g.start.heapUsedMiB} | ${g.end.heapUsedMiB} |`,
    `| outside the heap: Buffers etc. (MiB) | ${g.beforeWarmup.externalMiB} | ${g.start.externalMiB} | ${g.end.externalMiB} |`,
    '',
    `During the run, with the clients' connections and sessions open (sessions: RSS MiB / fds): ${g.samples.map((x) => `${x.sessions}: ${x.rssMiB} / ${x.fds}`).join(', ') || 'none'}.`,
    `RSS slope over the second half of these samples: ${g.rssSlopeMiBPer1000Sessions ?? 'n/a'} MiB per 1000 sessions.`,
    '',
    `Pool against host: ${ph.samples} samples, each GET /v1/pools -> the driver's list() -> GET again; the host ran more sandboxes`,
    `than both pool totals around it in ${ph.hostAbovePool}. Largest host count ${ph.maxHost}, largest pool total ${ph.maxPool}; the longest list() took ${ph.maxListMs} ms`,
    '(a sandbox made and destroyed within one list() could slip by; none is that fast).',
    '',
    `Load: the 1-minute load average was ${r.load.atStart} at the start and ${r.load.atEnd} at the end, on ${r.load.cores} cores.`,
    r.note ? `Note: ${r.note}` : '',
    '',
    `Data: [load-${r.driver}.json](load-${r.driver}.json).`,
    '',
    '## Provenance', '', provenance(r.machine, r.command, new Date(r.date)), '',
  ])
}
