import type { SimResult } from './stats.ts'

/** One swept parameter: a dotted path into the scenario and its values. */
export interface SweepAxis { readonly path: string; readonly values: readonly unknown[] }

/**
 * Parses `path=values`: `a..b` or `a..b:step` (numbers), a comma list (numbers, true/false,
 * strings), or a JSON array (for objects: `policy=[{"kind":"fixed","size":4}, ...]`).
 */
export function parseAxis(arg: string): SweepAxis {
  const eq = arg.indexOf('=')
  if (eq <= 0) throw new Error(`--sweep ${arg}: expected path=values, e.g. policy.size=0..40`)
  const path = arg.slice(0, eq)
  const spec = arg.slice(eq + 1).trim()
  const range = /^(-?[\d.]+)\.\.(-?[\d.]+)(?::([\d.]+))?$/.exec(spec)
  let values: unknown[]
  if (range) {
    const [a, b, step] = [Number(range[1]), Number(range[2]), Number(range[3] ?? 1)]
    if (!(step > 0) || b < a) throw new Error(`--sweep ${arg}: bad range`)
    values = []
    for (let i = 0; a + i * step <= b + 1e-9; i++) values.push(Number((a + i * step).toFixed(9)))
  } else if (spec.startsWith('[')) {
    const v: unknown = JSON.parse(spec)
    if (!Array.isArray(v)) throw new Error(`--sweep ${arg}: expected a JSON array`)
    values = v
  } else {
    values = spec.split(',').map(scalar)
  }
  if (values.length === 0) throw new Error(`--sweep ${arg}: no values`)
  return { path, values }
}

/** `path=value` for --set: the value is JSON if it parses, else a string. */
export function parseSet(arg: string): { path: string; value: unknown } {
  const eq = arg.indexOf('=')
  if (eq <= 0) throw new Error(`--set ${arg}: expected path=value`)
  const raw = arg.slice(eq + 1)
  let value: unknown
  try { value = JSON.parse(raw) } catch { value = raw }
  return { path: arg.slice(0, eq), value }
}

function scalar(s: string): unknown {
  const t = s.trim()
  if (t === 'true' || t === 'false') return t === 'true'
  return t !== '' && Number.isFinite(Number(t)) ? Number(t) : t
}

/** A copy of `obj` with `path` (dotted) set to `value`, creating objects on the way. */
export function setPath<T>(obj: T, path: string, value: unknown): T {
  const root = structuredClone(obj) as Record<string, unknown>
  const keys = path.split('.')
  let o = root
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {}
    o = o[k] as Record<string, unknown>
  }
  o[keys[keys.length - 1]!] = value
  return root as T
}

/** Every combination of the axes, as [{path: value}] in a fixed order. */
export function grid(axes: readonly SweepAxis[]): Record<string, unknown>[] {
  let points: Record<string, unknown>[] = [{}]
  for (const a of axes) points = points.flatMap((p) => a.values.map((v) => ({ ...p, [a.path]: v })))
  return points
}

export interface SweepPoint {
  readonly params: Record<string, unknown>
  readonly result?: SimResult
  readonly error?: string
}

/** Points no other point beats on both cost and p99 wait (ascending cost). */
export function paretoFrontier(points: readonly SweepPoint[]): SweepPoint[] {
  const ok = points.filter((p) => p.result).sort((a, b) => a.result!.cost.total - b.result!.cost.total || a.result!.wait.p99S - b.result!.wait.p99S)
  const front: SweepPoint[] = []
  let best = Infinity
  for (const p of ok) {
    if (p.result!.wait.p99S < best) {
      front.push(p)
      best = p.result!.wait.p99S
    }
  }
  return front
}

/** The cheapest point whose p99 wait meets the target (ties: the lower p99). */
export function recommend(points: readonly SweepPoint[], targetP99S: number): SweepPoint | undefined {
  return points.filter((p) => p.result && p.result.wait.p99S <= targetP99S)
    .sort((a, b) => a.result!.cost.total - b.result!.cost.total || a.result!.wait.p99S - b.result!.wait.p99S)[0]
}

export const paramsLabel = (p: Record<string, unknown>) => Object.entries(p).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')
