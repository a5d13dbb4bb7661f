import type { Clock } from './clock.ts'

interface Timer {
  at: number
  seq: number
  fn: () => void
}

/** A clock that moves only when told to: for tests and the simulator. */
export class ManualClock implements Clock {
  private t: number
  private seq = 0
  private timers: Timer[] = []

  constructor(startMs = 0) {
    this.t = startMs
  }

  now(): number {
    return this.t
  }

  setTimer(ms: number, fn: () => void): () => void {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn }
    this.timers.push(timer)
    return () => {
      this.timers = this.timers.filter((x) => x !== timer)
    }
  }

  /** Moves time forward by `ms`, firing due timers in time order. */
  advance(ms: number): void {
    const end = this.t + ms
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq)
      const next = this.timers[0]
      if (!next || next.at > end) break
      this.timers.shift()
      this.t = next.at
      next.fn()
    }
    this.t = end
  }

  pendingTimers(): number {
    return this.timers.length
  }
}
