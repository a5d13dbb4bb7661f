import * as vega from 'vega'

/** Renders a Vega spec to an SVG string headless (no canvas, no browser). */
export async function renderSvg(spec: vega.Spec): Promise<string> {
  const view = new vega.View(vega.parse(spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

const base = (title: string, width = 640, height = 220) => ({
  $schema: 'https://vega.github.io/schema/vega/v6.json', width, height, padding: 8, background: 'white',
  title: { text: title, anchor: 'start' as const },
})

/** Several named lines over a shared x axis. */
export function lineChart(title: string, xTitle: string, yTitle: string, rows: { x: number; y: number; c: string }[]): vega.Spec {
  return {
    ...base(title),
    data: [{ name: 'table', values: rows }],
    scales: [
      { name: 'x', type: 'linear', range: 'width', zero: false, domain: { data: 'table', field: 'x' } },
      { name: 'y', type: 'linear', range: 'height', nice: true, zero: true, domain: { data: 'table', field: 'y' } },
      { name: 'color', type: 'ordinal', range: 'category', domain: { data: 'table', field: 'c' } },
    ],
    axes: [{ orient: 'bottom', scale: 'x', title: xTitle }, { orient: 'left', scale: 'y', title: yTitle }],
    legends: [{ stroke: 'color', orient: 'top-right' }],
    marks: [{
      type: 'group',
      from: { facet: { name: 'series', data: 'table', groupby: 'c' } },
      marks: [{
        type: 'line', from: { data: 'series' },
        encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, stroke: { scale: 'color', field: 'c' }, strokeWidth: { value: 1.5 } } },
      }],
    }],
  }
}

/** Bars by category. */
export function barChart(title: string, xTitle: string, yTitle: string, rows: { k: string; v: number }[]): vega.Spec {
  return {
    ...base(title, 640, 200),
    data: [{ name: 'table', values: rows }],
    scales: [
      { name: 'x', type: 'band', range: 'width', padding: 0.1, domain: { data: 'table', field: 'k' } },
      { name: 'y', type: 'linear', range: 'height', nice: true, zero: true, domain: { data: 'table', field: 'v' } },
    ],
    axes: [{ orient: 'bottom', scale: 'x', title: xTitle, labelAngle: -30, labelAlign: 'right' }, { orient: 'left', scale: 'y', title: yTitle }],
    marks: [{
      type: 'rect', from: { data: 'table' },
      encode: { enter: { x: { scale: 'x', field: 'k' }, width: { scale: 'x', band: 1 }, y: { scale: 'y', field: 'v' }, y2: { scale: 'y', value: 0 }, fill: { value: '#4c78a8' } } },
    }],
  }
}

/** Points (cost vs p99 wait), the frontier highlighted. */
export function scatterChart(title: string, xTitle: string, yTitle: string, rows: { x: number; y: number; frontier: boolean; label: string }[]): vega.Spec {
  return {
    ...base(title),
    data: [{ name: 'table', values: rows }],
    scales: [
      { name: 'x', type: 'linear', range: 'width', nice: true, zero: true, domain: { data: 'table', field: 'x' } },
      { name: 'y', type: 'linear', range: 'height', nice: true, zero: true, domain: { data: 'table', field: 'y' } },
    ],
    axes: [{ orient: 'bottom', scale: 'x', title: xTitle }, { orient: 'left', scale: 'y', title: yTitle }],
    marks: [{
      type: 'symbol', from: { data: 'table' },
      encode: { enter: {
        x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, size: { value: 50 },
        fill: { signal: "datum.frontier ? '#e45756' : '#9ecae9'" },
      } },
    }],
  }
}
