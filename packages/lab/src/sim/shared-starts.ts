/**
 * Sandbox creates that share a machine's processors (processor sharing): with n creates in
 * flight on `cores` processors, each progresses at min(1, cores / n) of its speed alone, so a
 * create that takes 0.3 s alone takes several seconds among twenty others. Each create brings
 * its work (its time alone); all progress at the same rate, so one virtual clock V (the work
 * each create in flight has done since the start) orders their ends: a create started at V0
 * with work w ends when V reaches V0 + w.
 */
export class SharedStarts {
  private v = 0
  private lastT = 0
  /** Binary min-heap of (end in V, sandbox id). */
  private ends: number[] = []
  private ids: number[] = []

  constructor(readonly cores: number) {}

  get size(): number {
    return this.ends.length
  }

  private rate(): number {
    const n = this.ends.length
    return n <= this.cores ? 1 : this.cores / n
  }

  private advance(t: number): void {
    if (this.ends.length > 0) this.v += (t - this.lastT) * this.rate()
    this.lastT = t
  }

  /** A create of `workS` (its time alone) starts at t. */
  add(id: number, workS: number, t: number): void {
    this.advance(t)
    const ends = this.ends, ids = this.ids
    let i = ends.length
    const end = this.v + workS
    ends.push(end); ids.push(id)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (ends[p]! <= end) break
      ends[i] = ends[p]!; ids[i] = ids[p]!
      i = p
    }
    ends[i] = end; ids[i] = id
  }

  /** When the next create ends at the current rate (Infinity when none is in flight). */
  nextEndAt(): number {
    if (this.ends.length === 0) return Infinity
    return this.lastT + Math.max(0, this.ends[0]! - this.v) / this.rate()
  }

  /** Removes the create that ends first (call at its nextEndAt); returns its id. */
  pop(t: number): number {
    this.advance(t)
    const ends = this.ends, ids = this.ids
    const id = ids[0]!
    const lastEnd = ends.pop()!, lastId = ids.pop()!
    const n = ends.length
    if (n > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const c = l + 1 < n && ends[l + 1]! < ends[l]! ? l + 1 : l
        if (ends[c]! >= lastEnd) break
        ends[i] = ends[c]!; ids[i] = ids[c]!
        i = c
      }
      ends[i] = lastEnd; ids[i] = lastId
    }
    return id
  }
}

/** Candidate processor counts for the fit; the last stands for creates that do not slow each other. */
const CORES = [...Array.from({ length: 61 }, (_, k) => 1 + k * 0.25), 1e9]

/** Creates whose life averaged at most this many creates in flight (themselves included) count as run alone: two barely slow each other on two cores. */
const ALONE_CROWD = 2
/** Creates run alone needed to fit against them (fewer: the correlation fit). */
const MIN_ALONE = 5

/**
 * The processor-sharing fit of measured creates (launch times and durations, seconds): for
 * each candidate `cores`, each create's work (its time alone) is what it did over its life at
 * the rate the creates in flight with it allowed. Under the right `cores` a create's work does
 * not depend on how crowded its life was. With at least MIN_ALONE creates that ran alone (their
 * works are their durations whatever `cores`), the fit is the candidate whose crowded creates'
 * median work is nearest theirs (in log); otherwise the candidate whose works are least
 * correlated with the log of the mean number of creates in flight over each life (too many
 * cores leave the crowded creates' works too long, too few make them too short). Creates in
 * flight that were not measured (started before the first) are not counted.
 */
export function fitSharedStarts(atS: readonly number[], durS: readonly number[]): { cores: number; worksS: number[]; correlation: number } {
  const n = atS.length
  if (n !== durS.length) throw new Error('each create needs a launch time and a duration')
  // n(t) as a step function: +1 at each launch, -1 at each end; ends before launches at a tie.
  const ev: [number, number][] = []
  for (let i = 0; i < n; i++) { ev.push([atS[i]!, 1]); ev.push([atS[i]! + durS[i]!, -1]) }
  ev.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  const times = ev.map((e) => e[0])
  const counts: number[] = [] // creates in flight just after each event
  let k = 0
  for (const e of ev) { k += e[1]; counts.push(k) }
  const at = (t: number) => { // index of the last event at or before t
    let lo = 0, hi = times.length - 1
    while (lo < hi) { const m = (lo + hi + 1) >> 1; if (times[m]! <= t) lo = m; else hi = m - 1 }
    return lo
  }
  const starts = atS.map(at), ends = atS.map((a, i) => at(a + durS[i]!))
  const integral = (rate: (c: number) => number) => {
    const cum = [0]
    for (let j = 1; j < times.length; j++) cum.push(cum[j - 1]! + (times[j]! - times[j - 1]!) * rate(counts[j - 1]!))
    return atS.map((_, i) => Math.max(0, cum[ends[i]!]! - cum[starts[i]!]!))
  }
  const crowd = integral((c) => c).map((area, i) => Math.log(Math.max(1, durS[i]! > 0 ? area / durS[i]! : 1)))
  const alone = crowd.map((x) => x <= Math.log(ALONE_CROWD))
  const aloneN = alone.filter(Boolean).length
  const byAlone = aloneN >= MIN_ALONE && aloneN < n
  const aloneMedian = byAlone ? median(durS.filter((_, i) => alone[i]).map(Math.log)) : 0
  const miss = (works: readonly number[], r: number) => byAlone
    ? Math.abs(median(works.filter((_, i) => !alone[i]).map((w) => Math.log(Math.max(w, 1e-9)))) - aloneMedian)
    : Math.abs(r)
  let best = { cores: 1e9, worksS: [...durS], correlation: correlation(durS, crowd) }
  let bestMiss = miss(best.worksS, best.correlation)
  for (const cores of CORES) {
    const works = integral((c) => (c <= cores ? 1 : cores / c))
    const r = correlation(works, crowd)
    const m = miss(works, r)
    if (m < bestMiss - 1e-9) { best = { cores, worksS: works, correlation: r }; bestMiss = m }
  }
  return best
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const k = s.length >> 1
  return s.length % 2 ? s[k]! : (s[k - 1]! + s[k]!) / 2
}

/** Pearson's correlation (0 when either side does not vary). */
function correlation(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length
  if (n < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / n, my = ys.reduce((a, b) => a + b, 0) / n
  let sxy = 0, sxx = 0, syy = 0
  for (let i = 0; i < n; i++) { const dx = xs[i]! - mx, dy = ys[i]! - my; sxy += dx * dy; sxx += dx * dx; syy += dy * dy }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0
}
