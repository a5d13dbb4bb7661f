/** Window sizes `nearestByCrossValidation` chooses among. */
export const NEAREST_CANDIDATES = [4, 8, 16, 32, 64, 128] as const

/**
 * How many of a replay's creates, launched nearest a moment, stand for a create launched then
 * (the `timed` draw's `nearest`): the window size that best predicts each create's (log) time
 * from the others in its window, the create itself left out (leave-one-out cross-validation,
 * squared error). A small window keeps the machine's slow moments where they were; a large one
 * averages them away. The data decide between the two, not the fidelity goal: a create's time
 * is compared with its neighbours', never with a prediction of the pool. Ties go to the larger
 * window (less of the replay copied).
 */
export function nearestByCrossValidation(atS: readonly number[], valuesS: readonly number[]): { nearest: number; errors: Record<number, number> } {
  const n = atS.length
  if (n !== valuesS.length) throw new Error('each value needs its time')
  const order = atS.map((_, i) => i).sort((a, b) => atS[a]! - atS[b]!)
  const logs = order.map((i) => Math.log(Math.max(valuesS[i]!, 1e-6)))
  const prefix = [0]
  for (const x of logs) prefix.push(prefix[prefix.length - 1]! + x)
  const errors: Record<number, number> = {}
  let best = { nearest: Math.max(1, n - 1), error: Infinity }
  for (const k of NEAREST_CANDIDATES) {
    if (k >= n) continue
    let sum = 0
    for (let i = 0; i < n; i++) {
      // The window of k + 1 around i (clamped at the ends), without i itself.
      const first = Math.min(n - k - 1, Math.max(0, i - (k >> 1)))
      const mean = (prefix[first + k + 1]! - prefix[first]! - logs[i]!) / k
      sum += (logs[i]! - mean) ** 2
    }
    const error = sum / n
    errors[k] = error
    if (error <= best.error * (1 + 1e-9)) best = { nearest: k, error: Math.min(error, best.error) }
  }
  return { nearest: best.nearest, errors }
}
