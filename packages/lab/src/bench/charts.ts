import * as vega from 'vega'

/** One bar: `group` on the x axis, `series` as colour (e.g. op x {node, native, fio}). */
export interface Bar {
  readonly group: string
  readonly series: string
  readonly value: number
}

/** Grouped bar chart as SVG (vega, rendered headless). */
export async function barChartSvg(title: string, yTitle: string, bars: readonly Bar[], opts: { logScale?: boolean } = {}): Promise<string> {
  const values = bars.filter((b) => Number.isFinite(b.value) && b.value > 0)
  const spec: vega.Spec = {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    width: Math.max(240, 70 * new Set(values.map((b) => b.group)).size), height: 240, padding: 8,
    title: { text: title },
    data: [{ name: 'bars', values: values as unknown as object[] }],
    scales: [
      { name: 'x', type: 'band', domain: { data: 'bars', field: 'group' }, range: 'width', padding: 0.2 },
      opts.logScale
        ? { name: 'y', type: 'log', domain: { data: 'bars', field: 'value' }, range: 'height', nice: true }
        : { name: 'y', type: 'linear', domain: { data: 'bars', field: 'value' }, range: 'height', nice: true, zero: true },
      { name: 'color', type: 'ordinal', domain: { data: 'bars', field: 'series' }, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', labelAngle: -30, labelAlign: 'right' },
      { orient: 'left', scale: 'y', title: yTitle, grid: true },
    ],
    legends: [{ fill: 'color', title: '' }],
    marks: [{
      type: 'group',
      from: { facet: { data: 'bars', name: 'facet', groupby: 'group' } },
      encode: { enter: { x: { scale: 'x', field: 'group' } } },
      signals: [{ name: 'gw', update: "bandwidth('x')" }],
      scales: [{ name: 'pos', type: 'band', range: 'width', domain: { data: 'facet', field: 'series' } }],
      marks: [{
        type: 'rect', from: { data: 'facet' },
        encode: { enter: {
          x: { scale: 'pos', field: 'series' }, width: { scale: 'pos', band: 1 },
          y: { scale: 'y', field: 'value' }, y2: { scale: 'y', value: opts.logScale ? Math.min(...values.map((b) => b.value)) : 0 },
          fill: { scale: 'color', field: 'series' },
          tooltip: { signal: 'datum.value' },
        } },
      }],
    }],
  }
  return render(spec)
}

/** Latency distribution: percentile (x) against latency (y, log) per series. */
export async function percentileChartSvg(title: string, yTitle: string, series: readonly { name: string; curve: readonly (readonly [number, number])[] }[]): Promise<string> {
  const values = series.flatMap((s) => s.curve.filter(([, v]) => v > 0).map(([p, v]) => ({ series: s.name, p: String(p), v })))
  const spec: vega.Spec = {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    width: 420, height: 240, padding: 8,
    title: { text: title },
    data: [{ name: 'pts', values }],
    scales: [
      { name: 'x', type: 'point', domain: { data: 'pts', field: 'p' }, range: 'width' },
      { name: 'y', type: 'log', domain: { data: 'pts', field: 'v' }, range: 'height', nice: true },
      { name: 'color', type: 'ordinal', domain: { data: 'pts', field: 'series' }, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'percentile' },
      { orient: 'left', scale: 'y', title: yTitle, grid: true },
    ],
    legends: [{ stroke: 'color', title: '' }],
    marks: [{
      type: 'group',
      from: { facet: { data: 'pts', name: 'line', groupby: 'series' } },
      marks: [{
        type: 'line', from: { data: 'line' },
        encode: { enter: { x: { scale: 'x', field: 'p' }, y: { scale: 'y', field: 'v' }, stroke: { scale: 'color', field: 'series' }, strokeWidth: { value: 2 } } },
      }],
    }],
  }
  return render(spec)
}

async function render(spec: vega.Spec): Promise<string> {
  const view = new vega.View(vega.parse(spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
