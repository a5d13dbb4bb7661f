import * as hdr from 'hdr-histogram-js'

/**
 * Latency statistics of one series from an HDR histogram (3 significant digits), with the
 * sample count beside every percentile and the excluded warm-up count stated. Values are in the
 * unit the caller records in; the field holding a LatencyStats names the unit (`latencyUs`).
 */
export interface LatencyStats {
  readonly n: number
  /** Samples taken before the measurement and excluded from it. */
  readonly warmup: number
  readonly min: number
  readonly mean: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  /** Percentile curve for distribution charts: [percentile, value]. */
  readonly curve: readonly (readonly [number, number])[]
}

const CURVE = [0, 10, 25, 50, 75, 90, 95, 99, 99.9, 100]

/** Records integer values (e.g. nanoseconds); `stats(scale)` reports them divided by `scale`. */
export class LatencyHistogram {
  private readonly h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3 })
  warmup = 0

  record(value: number): void {
    this.h.recordValue(Math.max(1, Math.round(value)))
  }

  recordAll(values: ArrayLike<number>, count = values.length): void {
    for (let i = 0; i < count; i++) this.record(values[i]!)
  }

  get count(): number {
    return this.h.totalCount
  }

  stats(scale = 1): LatencyStats {
    const h = this.h
    // The histogram answers a bucket's highest equivalent value; no percentile exceeds the max seen.
    const at = (p: number) => (h.totalCount === 0 ? Number.NaN : Math.min(h.getValueAtPercentile(p), h.maxValue) / scale)
    return {
      n: h.totalCount,
      warmup: this.warmup,
      min: h.totalCount === 0 ? Number.NaN : h.minNonZeroValue / scale,
      mean: h.totalCount === 0 ? Number.NaN : h.mean / scale,
      p50: at(50),
      p95: at(95),
      p99: at(99),
      max: h.totalCount === 0 ? Number.NaN : h.maxValue / scale,
      curve: h.totalCount === 0 ? [] : CURVE.map((p) => [p, at(p)] as const),
    }
  }

  destroy(): void {
    this.h.destroy()
  }
}

/** `p50 (n=…)`-style cell: a percentile with its sample count, as the issue asks. */
export function withCount(value: number, n: number, digits = 1): string {
  return Number.isFinite(value) ? `${value.toFixed(digits)} (n=${n})` : 'n/a'
}
