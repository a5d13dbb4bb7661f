import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { machineLine, type MachineInfo } from './machine.ts'

/** A text bar chart in the style of the original lab's README (one row per series). */
export function barChart(rows: readonly { label: string; value: number }[], unit = 'ms', width = 48): string {
  const max = Math.max(...rows.map((r) => r.value), 1e-9)
  const labelW = Math.max(...rows.map((r) => r.label.length))
  const vals = rows.map((r) => formatMs(r.value))
  const valW = Math.max(...vals.map((v) => v.length))
  return rows.map((r, i) => {
    const n = (r.value / max) * width
    const full = Math.floor(n)
    const bar = '█'.repeat(full) + (n - full >= 0.5 || full === 0 ? '▌' : '')
    return `${r.label.padEnd(labelW)}  ${vals[i]!.padStart(valW)} ${unit}  ${bar}`
  }).join('\n')
}

export function formatMs(v: number): string {
  if (!Number.isFinite(v)) return 'n/a'
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

export function provenance(machine: MachineInfo, command: string, date = new Date()): string {
  return [`- Machine: ${machineLine(machine)}`, `- Date: ${date.toISOString()}`, `- Command: \`${command}\``].join('\n')
}

export function writeResult(dir: string, name: string, markdown: string, json: unknown): { md: string; json: string } {
  mkdirSync(dir, { recursive: true })
  const md = join(dir, `${name}.md`)
  const js = join(dir, `${name}.json`)
  writeFileSync(md, markdown)
  writeFileSync(js, `${JSON.stringify(json, null, 2)}\n`)
  return { md, json: js }
}

export function writeSvg(dir: string, name: string, svg: string): string {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${name}.svg`)
  writeFileSync(file, svg)
  return file
}

/** ops/s with thousands separators, `n/a` when not finite. */
export function formatRate(v: number | undefined): string {
  return v !== undefined && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a'
}

export function formatRatio(v: number | undefined): string {
  return v !== undefined && Number.isFinite(v) ? `${v.toFixed(2)}x` : '–'
}

/** Drops blank lines that follow a blank line. */
export function squeeze(lines: readonly string[]): string {
  return lines.filter((l, i) => !(l === '' && lines[i - 1] === '')).join('\n')
}
