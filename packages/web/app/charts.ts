import uPlot from 'uplot'
import { cssVar } from './dom.ts'
import type { EndedReasonStats, PoolStats } from './api.ts'

const HEIGHT = 200

function axis(): uPlot.Axis {
  return { stroke: cssVar('--muted'), grid: { stroke: cssVar('--grid'), width: 1 }, ticks: { stroke: cssVar('--grid'), width: 1 } }
}

/** Keeps a uPlot chart as wide as its container. */
function follow(el: HTMLElement, plot: uPlot): ResizeObserver {
  const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }))
  ro.observe(el)
  return ro
}

export interface Chart<T = PoolStats> { update(data: T): void; destroy(): void }

/** ready / starting / claimed / target over time. */
export function poolChart(el: HTMLElement): Chart {
  const line = (label: string, color: string, dash?: number[]): uPlot.Series => ({ label, stroke: cssVar(color), width: 2, ...(dash ? { dash } : {}) })
  const plot = new uPlot({
    width: Math.max(200, el.clientWidth),
    height: HEIGHT,
    ms: 1,
    // At least a minute wide, so a young gateway's few samples read as a line, not a smear.
    scales: { x: { time: true, range: (_u, min, max) => [Math.min(min, max - 60_000), max] }, y: { range: (_u, _min, max) => [0, Math.max(4, max + 1)] } },
    series: [{}, line('ready', '--c-ready'), line('starting', '--c-starting'), line('claimed', '--c-claimed'), line('target', '--c-target', [6, 4])],
    axes: [axis(), { ...axis(), label: 'sandboxes' }],
  }, [[], [], [], [], []], el)
  const ro = follow(el, plot)
  return {
    update: (p) => plot.setData([p.series.t, p.series.ready, p.series.starting, p.series.claimed, p.series.target]),
    destroy: () => {
      ro.disconnect()
      plot.destroy()
    },
  }
}

/** Bucket label: "≤1 ms", "≤2 s", ">60 s". */
function bucketLabel(bounds: (number | null)[], i: number): string {
  const b = bounds[i]
  const fmt = (ms: number) => (ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`)
  if (b === null || b === undefined) return `>${fmt(bounds[i - 1] ?? 0)}`
  return `≤${fmt(b)}`
}

/** Claim latency histogram, warm and cold side by side. */
export function latencyChart(el: HTMLElement): Chart {
  let labels: string[] = []
  const bars = uPlot.paths.bars!
  const plot = new uPlot({
    width: Math.max(200, el.clientWidth),
    height: HEIGHT,
    scales: { x: { time: false, range: (_u, min, max) => [min - 0.5, max + 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    series: [
      {},
      { label: 'warm', stroke: cssVar('--c-ready'), fill: cssVar('--c-ready'), paths: bars({ size: [0.4, 60], align: -1 }), points: { show: false } },
      { label: 'cold', stroke: cssVar('--c-starting'), fill: cssVar('--c-starting'), paths: bars({ size: [0.4, 60], align: 1 }), points: { show: false } },
    ],
    axes: [
      { ...axis(), splits: () => labels.map((_, i) => i), values: (_u, splits) => splits.map((i) => labels[i] ?? '') },
      { ...axis(), label: 'claims' },
    ],
  }, [[], [], []], el)
  const ro = follow(el, plot)
  return {
    update(p) {
      const { bucketsMs, warm, cold } = p.claimLatency
      // Show the buckets up to the slowest claim seen (at least four), not all seventeen.
      let last = 3
      bucketsMs.forEach((_, i) => {
        if ((warm[i] ?? 0) + (cold[i] ?? 0) > 0) last = Math.max(last, i + 1)
      })
      const n = Math.min(bucketsMs.length, last + 1)
      labels = Array.from({ length: n }, (_, i) => bucketLabel(bucketsMs, i))
      const xs = labels.map((_, i) => i)
      plot.setData([xs, warm.slice(0, n), cold.slice(0, n)])
    },
    destroy: () => {
      ro.disconnect()
      plot.destroy()
    },
  }
}

/**
 * Sessions ended per hour, stacked by reason (bottom to top in the order the gateway lists them;
 * colours from CSS variables --c-r-<reason>). uPlot does not stack: each reason's bar is drawn to
 * the running total of the reasons under it, the tallest first so the shorter ones paint over
 * it; the legend shows each reason's own count. The series follow the reasons the gateway
 * sends, so the chart is built on the first data.
 */
export function endedChart(el: HTMLElement): Chart<EndedReasonStats> {
  const bars = uPlot.paths.bars!
  let plot: uPlot | undefined
  let ro: ResizeObserver | undefined
  let reasons: string[] = []
  let own: number[][] = [] // per series (tallest first), each reason's own counts

  function build(): uPlot {
    ro?.disconnect()
    plot?.destroy()
    const top = [...reasons].reverse()
    const p = new uPlot({
      width: Math.max(200, el.clientWidth),
      height: HEIGHT,
      ms: 1,
      scales: { x: { time: true, range: (_u, min, max) => [min - 1_800_000, max + 1_800_000] }, y: { range: (_u, _min, max) => [0, Math.max(4, max + 1)] } },
      series: [
        {},
        ...top.map((reason, i): uPlot.Series => ({
          label: reason.replaceAll('_', ' '),
          stroke: cssVar(`--c-r-${reason}`) || cssVar('--muted'),
          fill: cssVar(`--c-r-${reason}`) || cssVar('--muted'),
          paths: bars({ size: [0.7, 40] }),
          points: { show: false },
          value: (_u, _v, _si, idx) => (idx === null ? '–' : String(own[i]?.[idx] ?? 0)),
        })),
      ],
      axes: [axis(), { ...axis(), label: 'sessions ended' }],
    }, [[], ...top.map(() => [])], el)
    ro = follow(el, p)
    return p
  }

  return {
    update(r) {
      const keys = Object.keys(r.counts)
      if (!plot || keys.join() !== reasons.join()) {
        reasons = keys
        plot = build()
      }
      let below = new Array<number>(r.t.length).fill(0)
      const stacked = reasons.map((reason) => (below = below.map((b, j) => b + (r.counts[reason as keyof typeof r.counts]?.[j] ?? 0))))
      own = [...reasons].reverse().map((reason) => r.counts[reason as keyof typeof r.counts] ?? [])
      plot.setData([r.t, ...stacked.reverse()])
    },
    destroy: () => {
      ro?.disconnect()
      plot?.destroy()
    },
  }
}
