/** Time source. The live gateway uses the system clock; tests and the simulator a manual one. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Calls `fn` after `ms` of this clock's time; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms))
    t.unref?.()
    return () => clearTimeout(t)
  },
}
