import type { Clock } from '../clock/clock.ts'
import type { EventQueue } from './event-queue.ts'

/**
 * The simulated clock: `now()` is the event being processed, `setTimer` schedules a callback
 * event on the simulator's queue. The policies and timers see the same `Clock` interface as
 * in the live gateway.
 */
export class SimClock implements Clock {
  /** Simulated seconds since the start of the run. */
  t = 0
  private readonly fns = new Map<number, () => void>()
  private nextId = 0

  constructor(private readonly queue: EventQueue, private readonly timerKind: number, readonly startMs: number) {}

  now(): number {
    return this.startMs + this.t * 1000
  }

  setTimer(ms: number, fn: () => void): () => void {
    const id = this.nextId++
    this.fns.set(id, fn)
    this.queue.push(this.t + Math.max(0, ms) / 1000, this.timerKind, id)
    return () => { this.fns.delete(id) }
  }

  /** Called by the event loop for a timer event. */
  fire(id: number): void {
    const fn = this.fns.get(id)
    if (!fn) return
    this.fns.delete(id)
    fn()
  }
}
