import type { LatencyStats } from './histogram.ts'
import { formatMs, formatRatio } from './report.ts'
import type { StartupSample } from './startup.ts'

/** The goal of a warm start against the transport floor (docs/design.md). */
export const WARM_GOAL = { p50: 1.5, p99: 2 } as const

/** p50 of one step of a start, against the gateway and (for the client's steps) the floor, in ms. */
export interface StepP50 {
  readonly step: string
  readonly p50: number
  readonly floorP50?: number
}

type Stats = (values: readonly number[], warmup: number) => LatencyStats

/** The client's own steps; together they make totalMs. */
const CLIENT_STEPS = [
  ['postMs', 'POST /v1/sessions answered'],
  ['openMs', 'terminal WebSocket upgraded'],
  ['byteMs', 'first terminal byte after the upgrade'],
] as const

/**
 * Where the time of a series went: the client's steps beside the floor's, then the gateway's
 * timings in the order they ran: the claim path's (inside the POST), then the agent's answer.
 */
export function stepP50s(samples: readonly StartupSample[], floor: readonly StartupSample[], stats: Stats): StepP50[] {
  const p50 = (xs: readonly number[]) => stats(xs, 0).p50
  const out: StepP50[] = CLIENT_STEPS.map(([key, step]) => ({
    step, p50: p50(samples.map((s) => s[key])), ...(floor.length ? { floorP50: p50(floor.map((s) => s[key])) } : {}),
  }))
  const keys = [...new Set(samples.flatMap((s) => Object.keys(s.timings)))]
  for (const k of keys) out.push({ step: `gateway: ${k}`, p50: p50(samples.map((s) => s.timings[k] ?? Number.NaN)) })
  return out
}

/** A figure beside its floor and their ratio: `4.61 | 2.40 | 1.92x`. */
export function withFloor(v: number, floor: number | undefined): string {
  if (floor === undefined) return `${formatMs(v)} | – | –`
  return `${formatMs(v)} | ${formatMs(floor)} | ${formatRatio(v / floor)}`
}

/** The warm run against its floor and the goal, as one sentence. */
export function warmVerdict(total: LatencyStats, floor: LatencyStats): string {
  const r50 = total.p50 / floor.p50
  const r99 = total.p99 / floor.p99
  const met = (r: number, goal: number) => (r <= goal ? 'met' : 'not met')
  return `Warm start: **${formatRatio(r50)} the floor at p50** (${formatMs(total.p50)} against ${formatMs(floor.p50)} ms) and `
    + `**${formatRatio(r99)} at p99** (${formatMs(total.p99)} against ${formatMs(floor.p99)} ms). Goal: at most ${WARM_GOAL.p50}x at p50 `
    + `(${met(r50, WARM_GOAL.p50)}) and ${WARM_GOAL.p99}x at p99 (${met(r99, WARM_GOAL.p99)}).`
}

/** The step table of a warm run, and which step holds most of the time above the floor. */
export function stepsMarkdown(steps: readonly StepP50[]): string[] {
  const client = steps.filter((s) => s.floorP50 !== undefined)
  const gateway = steps.filter((s) => s.floorP50 === undefined)
  const above = (s: StepP50) => s.p50 - (s.floorP50 ?? 0)
  const lines = [
    '| step | p50 | floor p50 | above the floor |',
    '|---|---|---|---|',
    ...client.map((s) => `| ${s.step} | ${formatMs(s.p50)} | ${formatMs(s.floorP50!)} | ${formatMs(above(s))} |`),
    ...gateway.map((s) => `| ${s.step} | ${formatMs(s.p50)} | | |`),
    '',
  ]
  const worst = [...client].sort((a, b) => above(b) - above(a))[0]
  if (worst && Number.isFinite(above(worst))) {
    // claimMs is the sum, and the agent's timings run after the response.
    const claimSteps = gateway.filter((g) => g.step !== 'gateway: claimMs' && !g.step.startsWith('gateway: agent'))
    const inside = worst.step.startsWith('POST') && claimSteps.length
      ? `; inside the POST the gateway's largest step is \`${[...claimSteps].sort((a, b) => b.p50 - a.p50)[0]!.step.replace('gateway: ', '')}\``
      : ''
    const agent = gateway.find((g) => g.step === 'gateway: agentReadyMs')
    const hop = worst.step.startsWith('first') && agent
      ? `; the agent answered the claim (\`agentReadyMs\`, claim sent to \`ready\`) in ${formatMs(agent.p50)} ms`
      : ''
    lines.push(`Most of the time above the floor is in: **${worst.step}** (${formatMs(above(worst))} ms at p50)${inside}${hop}.`, '')
  }
  return lines
}
