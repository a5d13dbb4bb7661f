import type { LatencyStats } from './histogram.ts'
import { LATENCY_SERIES, type LatencyRun, type LatencySeries } from './exec-latency.ts'
import type { SpawnProbe } from './exec-spawn-probe.ts'
import type { TransferResult } from './exec-throughput.ts'
import type { MachineInfo } from './machine.ts'
import { formatMs, formatRatio, provenance, squeeze } from './report.ts'
import { msStats } from './startup-report.ts'

/** Goals of the command API against what this machine does anyway (docs/bench.md). */
export const EXEC_GOALS = { firstCommandP50: 1.5, roundTripP50: 1.5, rssRiseMiB: 64 } as const

const LABELS: Record<LatencySeries, { name: string; how: string }> = {
  floorFirst: { name: 'floor: create + exec', how: 'POST /v1/sessions then POST …/exec against the transport floor (floor-server.ts)' },
  spawn: { name: 'host spawn', how: "child_process.spawn('true') to its exit, in the benchmark's process" },
  first: { name: 'time to first command', how: 'POST /v1/sessions then POST …/exec {"cmd":["true"]} answered, sequential' },
  roundTrip: { name: 'exec round trip', how: 'POST …/exec {"cmd":["true"]} on a running session' },
  floorRoundTrip: { name: 'floor: exec', how: 'POST …/exec against the transport floor' },
}

export interface LatencyRow {
  readonly series: LatencySeries
  readonly name: string
  readonly how: string
  readonly ms: LatencyStats
}

export interface GoalRow {
  readonly goal: string
  /** The measured figure (ms or MiB). */
  readonly value: number
  /** What it is judged against: the reference (ms), or the limit (MiB). */
  readonly reference: number
  /** value / reference: the bound is `limit` (a ratio for latencies; 1 for memory, the limit itself being the reference). */
  readonly ratio: number
  readonly limit: number
  readonly met: boolean
}

export interface ExecReport {
  readonly benchmark: 'exec'
  readonly driver: 'local'
  readonly partial: boolean
  readonly machine: MachineInfo
  readonly date: string
  readonly command: string
  readonly note?: string
  /** 1-minute load average at the start and the end: other work on the machine shows here. */
  readonly load: { readonly cores: number; readonly atStart: number; readonly atEnd: number }
  readonly client: string
  readonly iterations: number
  readonly warmup: number
  readonly latency: readonly LatencyRow[]
  readonly firstCommand: {
    readonly warmClaims: number
    readonly claims: number
    /** p50 per step (ms): the client's beside the floor's, the exec's own duration, the gateway's claim timings. */
    readonly steps: {
      readonly postP50: number; readonly execP50: number; readonly secondExecP50: number; readonly floorPostP50: number; readonly floorExecP50: number
      readonly agentDurationP50: number; readonly claim: Readonly<Record<string, number>>
    }
  }
  readonly roundTrip: { readonly agentDurationP50: number }
  readonly goals: readonly GoalRow[]
  /** node spawn('true') and spawn('lab-exec -- true') in the sandbox and on the host, after the latency rounds. */
  readonly spawnProbes: readonly SpawnProbe[]
  readonly transfers: readonly TransferResult[]
}

export type ReportContext = Pick<ExecReport, 'machine' | 'date' | 'command' | 'load' | 'client'> & { readonly note?: string }

const p50 = (xs: readonly number[]) => msStats(xs, 0).p50

export function buildExecReport(run: LatencyRun, more: { transfers: readonly TransferResult[]; probes: readonly SpawnProbe[] }, partial: boolean, ctx: ReportContext): ExecReport {
  const { transfers, probes } = more
  const latency = LATENCY_SERIES.map((s) => ({ series: s, ...LABELS[s], ms: msStats(run.ms[s], run.warmup) }))
  const at = (s: LatencySeries) => latency.find((r) => r.series === s)!.ms
  const claimKeys = [...new Set(run.claimTimings.flatMap((t) => Object.keys(t)))]
  const firstRef = at('floorFirst').p50 + at('spawn').p50
  const goals: GoalRow[] = [
    latencyGoal(`time to first command p50 <= ${EXEC_GOALS.firstCommandP50}x (floor p50 + host spawn p50)`, at('first').p50, firstRef, EXEC_GOALS.firstCommandP50),
    latencyGoal(`exec round trip p50 <= ${EXEC_GOALS.roundTripP50}x host spawn p50`, at('roundTrip').p50, at('spawn').p50, EXEC_GOALS.roundTripP50),
    ...transfers.flatMap((t) => (['gateway', 'agent'] as const).map((who) => {
      const rise = t[who].riseMiB
      return { goal: `${t.kind}: ${who} RSS rise < ${EXEC_GOALS.rssRiseMiB} MiB`, value: rise, reference: EXEC_GOALS.rssRiseMiB, ratio: rise / EXEC_GOALS.rssRiseMiB, limit: 1, met: rise < EXEC_GOALS.rssRiseMiB }
    })),
  ]
  return {
    benchmark: 'exec', driver: 'local', partial: partial || run.partial, ...ctx, iterations: run.iterations, warmup: run.warmup, latency,
    firstCommand: {
      warmClaims: run.warmClaims, claims: run.ms.first.length,
      steps: {
        postP50: p50(run.firstSteps.postMs), execP50: p50(run.firstSteps.execMs), secondExecP50: p50(run.firstSteps.secondExecMs),
        floorPostP50: p50(run.firstSteps.floorPostMs), floorExecP50: p50(run.firstSteps.floorExecMs),
        agentDurationP50: p50(run.agentMs.first),
        claim: Object.fromEntries(claimKeys.map((k) => [k, p50(run.claimTimings.map((t) => t[k] ?? Number.NaN))])),
      },
    },
    roundTrip: { agentDurationP50: p50(run.agentMs.roundTrip) },
    goals, spawnProbes: probes, transfers,
  }
}

function latencyGoal(goal: string, value: number, reference: number, limit: number): GoalRow {
  const ratio = value / reference
  return { goal, value, reference, ratio, limit, met: ratio <= limit }
}

const yes = (met: boolean) => (met ? '**met**' : '**not met**')
const mib = (v: number) => v.toFixed(1)

export function renderExecMarkdown(r: ExecReport): string {
  const row = (s: LatencySeries) => r.latency.find((x) => x.series === s)!.ms
  const ratioRow = (name: string, num: LatencyStats, den: (p: 'p50' | 'p95' | 'p99') => number) =>
    `| ${name} | ${(['p50', 'p95', 'p99'] as const).map((p) => formatRatio(num[p] / den(p))).join(' | ')} |`
  const st = r.firstCommand.steps
  const rt = row('roundTrip')
  return squeeze([
    `# bench exec: commands and files through the agent (local driver)${r.partial ? ' (partial: interrupted)' : ''}`,
    '',
    provenance(r.machine, r.command, new Date(r.date)),
    `- Load: the 1-minute load average was ${r.load.atStart} at the start and ${r.load.atEnd} at the end of this run, on ${r.load.cores} cores.`,
    `- Client: ${r.client}`,
    ...(r.note ? [`- Note: ${r.note}`] : []),
    '',
    '## Goals',
    '',
    '| goal | measured | against | ratio | met |',
    '|---|---|---|---|---|',
    ...r.goals.map((g) => g.limit === 1
      ? `| ${g.goal} | ${mib(g.value)} MiB | ${g.reference} MiB | ${formatRatio(g.ratio)} | ${yes(g.met)} |`
      : `| ${g.goal} | ${formatMs(g.value)} ms | ${formatMs(g.reference)} ms | ${formatRatio(g.ratio)} (goal <= ${g.limit}x) | ${yes(g.met)} |`),
    '',
    '## Latency',
    '',
    `${r.iterations} rounds after ${r.warmup} of warm-up; each round takes one sample of every series, starting at a different one each round, with the pool full and no refill running before each sample. ms; HDR histogram, 3 significant digits.`,
    '',
    '| series | n | warm-up | p50 | p95 | p99 | max | what |',
    '|---|---|---|---|---|---|---|---|',
    ...r.latency.map((x) => `| ${x.name} | ${x.ms.n} | ${x.ms.warmup} | ${formatMs(x.ms.p50)} | ${formatMs(x.ms.p95)} | ${formatMs(x.ms.p99)} | ${formatMs(x.ms.max)} | ${x.how} |`),
    '',
    'Ratios (each percentile against the same percentile of the reference):',
    '',
    '| ratio | p50 | p95 | p99 |',
    '|---|---|---|---|',
    ratioRow('time to first command / (floor: create + exec + host spawn)', row('first'), (p) => row('floorFirst')[p] + row('spawn')[p]),
    ratioRow('exec round trip / host spawn', rt, (p) => row('spawn')[p]),
    ratioRow('exec round trip / (floor: exec + host spawn)', rt, (p) => row('floorRoundTrip')[p] + row('spawn')[p]),
    '',
    `![latency](exec.svg)`,
    '',
    '## Where the time goes',
    '',
    `Time to first command: ${r.firstCommand.warmClaims} of ${r.firstCommand.claims} measured claims found a warm sandbox (the create answer's \`warm\`).`,
    '',
    '| step (p50) | gateway | floor | above the floor |',
    '|---|---|---|---|',
    `| POST /v1/sessions answered | ${formatMs(st.postP50)} | ${formatMs(st.floorPostP50)} | ${formatMs(st.postP50 - st.floorPostP50)} |`,
    `| then POST …/exec answered | ${formatMs(st.execP50)} | ${formatMs(st.floorExecP50)} | ${formatMs(st.execP50 - st.floorExecP50)} |`,
    `| after it, untimed: a second POST …/exec on the same session | ${formatMs(st.secondExecP50)} | ${formatMs(st.floorExecP50)} | ${formatMs(st.secondExecP50 - st.floorExecP50)} |`,
    `| exec round trip on a running session | ${formatMs(rt.p50)} | ${formatMs(row('floorRoundTrip').p50)} | ${formatMs(rt.p50 - row('floorRoundTrip').p50)} |`,
    '',
    ...(st.claim.agentReadyMs !== undefined
      ? [`A call on a new session waits behind its claim: the agent answered the claim (\`agentReadyMs\`, claim sent to \`ready\`) in ${formatMs(st.claim.agentReadyMs)} ms at p50, of which it spent \`agentApplyMs\` ${formatMs(st.claim.agentApplyMs ?? Number.NaN)} ms applying it; the first exec took ${formatMs(st.execP50 - st.secondExecP50)} ms longer than the second on the same session.`, '']
      : []),
    `The exec answer's own \`durationMs\` (the process's run as the sandbox timed it) has a p50 of ${formatMs(st.agentDurationP50)} ms in a first command and ${formatMs(r.roundTrip.agentDurationP50)} ms in a round trip; host spawn p50 is ${formatMs(row('spawn').p50)} ms.`,
    ...(Object.keys(st.claim).length
      ? ['', `The gateway's timings of those sessions (p50, ms): ${Object.entries(st.claim).map(([k, v]) => `\`${k}\` ${formatMs(v)}`).join(', ')}.`]
      : []),
    '',
    ...spawnMarkdown(r),
    '## Throughput',
    '',
    `RSS rise = highest VmRSS during the transfer minus VmRSS at its start (kernel high-water mark reset at the start, \`hwm\`, or sampled every 50 ms). Goal: under ${EXEC_GOALS.rssRiseMiB} MiB for the gateway and for the agent.`,
    '',
    '| transfer | MiB | s | MiB/s | gateway RSS: before -> peak (rise) | agent RSS: before -> peak (rise) | how |',
    '|---|---|---|---|---|---|---|',
    ...r.transfers.map((t) => `| ${t.what} | ${mib(t.bytes / 2 ** 20)} | ${t.seconds.toFixed(2)} | ${t.mibPerS.toFixed(0)} | ${mib(t.gateway.beforeMiB)} -> ${mib(t.gateway.peakMiB)} (+${mib(t.gateway.riseMiB)}) | ${mib(t.agent.beforeMiB)} -> ${mib(t.agent.peakMiB)} (+${mib(t.agent.riseMiB)}) | ${t.gateway.method}/${t.agent.method} |`),
    ...(r.transfers.length ? [] : ['| (not run) | | | | | | |']),
    '',
    ...(r.transfers.length
      ? [
        'CPU seconds each process used during the transfer (on a machine with other work, a process near the wall time is the one the transfer waits for):',
        '',
        '| transfer | wall s | gateway | agent | this client |',
        '|---|---|---|---|---|',
        ...r.transfers.map((t) => `| ${t.kind} | ${t.seconds.toFixed(2)} | ${t.cpuSeconds.gateway.toFixed(2)} | ${t.cpuSeconds.agent.toFixed(2)} | ${t.cpuSeconds.client.toFixed(2)} |`),
        '',
      ]
      : []),
  ])
}

/** The spawn probes, and the round trip split with them: HTTP (the floor), the helper's spawn chain (the sandbox probe), the rest. */
function spawnMarkdown(r: ExecReport): string[] {
  const sandbox = r.spawnProbes.find((p) => p.where === 'sandbox')
  if (!sandbox) return []
  const rt = r.latency.find((x) => x.series === 'roundTrip')!.ms.p50
  const http = r.latency.find((x) => x.series === 'floorRoundTrip')!.ms.p50
  const chain = sandbox.helperMs.p50
  return [
    `Spawning from a node process, after the latency rounds (n=${sandbox.trueMs.n} each, ms, to \`close\`): \`true\` directly, and through the exec helper as the agent runs a command (\`lab-exec -- true\` with the agent's pipes and control socket).`,
    '',
    '| where | spawn true p50 | p95 | spawn lab-exec -- true p50 | p95 |',
    '|---|---|---|---|---|',
    ...r.spawnProbes.map((p) => `| ${p.where} | ${formatMs(p.trueMs.p50)} | ${formatMs(p.trueMs.p95)} | ${formatMs(p.helperMs.p50)} | ${formatMs(p.helperMs.p95)} |`),
    '',
    'The exec round trip split (differences of p50s, so approximate):',
    '',
    '| part | ms (p50) |',
    '|---|---|',
    `| HTTP request and answer on the gateway's stack (floor: exec) | ${formatMs(http)} |`,
    `| the agent's way of running \`true\` (sandbox: spawn lab-exec -- true) | ${formatMs(chain)} |`,
    `| the rest: the gateway's route and session lookup, the agent protocol both ways, the agent's op handling | ${formatMs(rt - http - chain)} |`,
    `| = exec round trip | ${formatMs(rt)} |`,
    '',
  ]
}
