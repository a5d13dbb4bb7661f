/**
 * The simulator's future-event list. Events are (time, kind, arg) triples of numbers; ties in
 * time pop in insertion order, so a run is deterministic.
 */
export interface EventQueue {
  readonly size: number
  push(t: number, kind: number, arg: number): void
  /** Removes the earliest event into `t`, `kind`, `arg`; false when empty. */
  pop(): boolean
  t: number
  kind: number
  arg: number
}

/** Binary min-heap over parallel typed arrays: no allocation per event. */
export class HeapQueue implements EventQueue {
  t = 0
  kind = 0
  arg = 0
  private n = 0
  private seq = 0
  private times = new Float64Array(1024)
  private seqs = new Float64Array(1024)
  private kinds = new Int32Array(1024)
  private args = new Int32Array(1024)

  get size(): number {
    return this.n
  }

  push(t: number, kind: number, arg: number): void {
    if (this.n === this.times.length) this.grow()
    const times = this.times, seqs = this.seqs, kinds = this.kinds, args = this.args
    const s = this.seq++
    let i = this.n++
    while (i > 0) {
      const p = (i - 1) >> 1
      const pt = times[p]!
      if (pt < t || (pt === t && seqs[p]! < s)) break
      times[i] = pt; seqs[i] = seqs[p]!; kinds[i] = kinds[p]!; args[i] = args[p]!
      i = p
    }
    times[i] = t; seqs[i] = s; kinds[i] = kind; args[i] = arg
  }

  pop(): boolean {
    if (this.n === 0) return false
    const times = this.times, seqs = this.seqs, kinds = this.kinds, args = this.args
    this.t = times[0]!; this.kind = kinds[0]!; this.arg = args[0]!
    const n = --this.n
    if (n === 0) return true
    const t = times[n]!, s = seqs[n]!, k = kinds[n]!, a = args[n]!
    let i = 0
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      const r = c + 1
      if (r < n && (times[r]! < times[c]! || (times[r] === times[c] && seqs[r]! < seqs[c]!))) c = r
      const ct = times[c]!
      if (t < ct || (t === ct && s < seqs[c]!)) break
      times[i] = ct; seqs[i] = seqs[c]!; kinds[i] = kinds[c]!; args[i] = args[c]!
      i = c
    }
    times[i] = t; seqs[i] = s; kinds[i] = k; args[i] = a
    return true
  }

  private grow(): void {
    const size = this.times.length * 2
    const f = (a: Float64Array) => { const b = new Float64Array(size); b.set(a); return b }
    const g = (a: Int32Array) => { const b = new Int32Array(size); b.set(a); return b }
    this.times = f(this.times); this.seqs = f(this.seqs); this.kinds = g(this.kinds); this.args = g(this.args)
  }
}

/**
 * The naive baseline of the benchmark: an array of event objects sorted on every insert
 * (latest first, so the earliest pops off the end).
 */
export class SortedArrayQueue implements EventQueue {
  t = 0
  kind = 0
  arg = 0
  private seq = 0
  private events: { t: number; seq: number; kind: number; arg: number }[] = []

  get size(): number {
    return this.events.length
  }

  push(t: number, kind: number, arg: number): void {
    this.events.push({ t, seq: this.seq++, kind, arg })
    this.events.sort((a, b) => b.t - a.t || b.seq - a.seq)
  }

  pop(): boolean {
    const e = this.events.pop()
    if (!e) return false
    this.t = e.t; this.kind = e.kind; this.arg = e.arg
    return true
  }
}
