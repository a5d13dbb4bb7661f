// Medians and a repeatable bootstrap interval of a ratio of medians: what the A/B comparisons of
// the benchmarks report (egress allow vs none, startup head vs base).

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5)
}

/** Linear interpolation between order statistics; NaN for no values. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const i = (s.length - 1) * q
  const lo = Math.floor(i)
  const hi = Math.ceil(i)
  return s[lo]! + (s[hi]! - s[lo]!) * (i - lo)
}

/** 95 % percentile-bootstrap interval of median(a)/median(b), with a fixed seed (repeatable reports). */
export function bootstrapRatioCi(a: readonly number[], b: readonly number[], rounds = 2000): [number, number] {
  if (a.length === 0 || b.length === 0) return [Number.NaN, Number.NaN]
  let seed = 0x2545f491
  const rand = () => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) / 2 ** 32
  }
  const resample = (xs: readonly number[]) => xs.map(() => xs[Math.floor(rand() * xs.length)]!)
  const ratios: number[] = []
  for (let i = 0; i < rounds; i++) ratios.push(median(resample(a)) / median(resample(b)))
  return [quantile(ratios, 0.025), quantile(ratios, 0.975)]
}
