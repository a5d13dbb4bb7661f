import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type WebSocket from 'ws'
import type { Attach, LabClient } from '../client/client.ts'

const TAIL_CHARS = 64 * 1024

/** A terminal that keeps only the tail of its output and can wait for a string in it. */
export class TailTerminal {
  private tail = ''
  bytes = 0
  closeCode: number | undefined
  private waiter: { needle: string | RegExp; resolve: () => void } | undefined

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer, binary: boolean) => {
      if (!binary) return
      this.bytes += d.length
      this.tail = (this.tail + d.toString('latin1')).slice(-TAIL_CHARS)
      if (this.waiter && this.has(this.waiter.needle)) this.waiter.resolve()
    })
    ws.on('close', (code) => {
      this.closeCode = code
    })
  }

  static async open(client: LabClient, attach: Attach): Promise<TailTerminal> {
    const ws = client.openTerminal(attach)
    const t = new TailTerminal(ws)
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    return t
  }

  type(s: string): void {
    this.ws.send(Buffer.from(s), { binary: true })
  }

  /** Whether the tail of the output holds `needle`. */
  has(needle: string | RegExp): boolean {
    return typeof needle === 'string' ? this.tail.includes(needle) : needle.test(this.tail)
  }

  /** Resolves once `needle` is in the output (looking at what arrived before, too). */
  waitFor(needle: string | RegExp, timeoutMs: number, what: string): Promise<void> {
    if (this.has(needle)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined
        reject(new Error(`no ${what} within ${timeoutMs} ms; output so far: ${JSON.stringify(this.tail.slice(-300))}`))
      }, timeoutMs)
      this.waiter = {
        needle,
        resolve: () => {
          clearTimeout(timer)
          this.waiter = undefined
          resolve()
        },
      }
    })
  }

  /**
   * One keystroke-to-screen round trip: `echo <n>` and Enter, until the shell's output line
   * `<n>` arrives: it starts after CR or LF (bash ends bracketed paste with `ESC[?2004l CR`),
   * while in the echoed command line a space comes before the number.
   */
  async echoRoundTrip(n: number, timeoutMs: number): Promise<number> {
    this.tail = ''
    const t0 = performance.now()
    this.type(`echo ${n}\r`)
    await this.waitFor(new RegExp(`[\r\n]${n}\r\n`), timeoutMs, `echo ${n}`)
    return performance.now() - t0
  }

  /** Stops reading: the gateway's data piles up in TCP, then in the gateway. */
  pauseReading(): void {
    (this.ws as unknown as { _socket: Socket })._socket.pause()
  }

  resumeReading(): void {
    (this.ws as unknown as { _socket: Socket })._socket.resume()
  }

  /** Resolves with the close code, or undefined if the socket is still open after `timeoutMs`. */
  async closed(timeoutMs: number): Promise<number | undefined> {
    if (this.closeCode !== undefined) return this.closeCode
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      this.ws.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
    })
    return this.closeCode
  }

  terminate(): void {
    this.ws.terminate()
  }
}

/** Samples a process's resident set (VmRSS) on an interval; all figures in MiB. */
export class RssSampler {
  readonly samples: { atMs: number; mib: number }[] = []
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly pid: number, private readonly everyMs = 100) {}

  read(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'))
    if (!m) throw new Error(`no VmRSS for pid ${this.pid}`)
    return Number(m[1]) / 1024
  }

  start(): void {
    const t0 = performance.now()
    this.timer = setInterval(() => {
      try {
        this.samples.push({ atMs: performance.now() - t0, mib: this.read() })
      } catch {
        this.stop() // the process is gone
      }
    }, this.everyMs)
  }

  /** Largest sample since `fromIndex`, or the current value when none was taken since. */
  peakSince(fromIndex: number): number {
    const since = this.samples.slice(fromIndex).map((s) => s.mib)
    return since.length > 0 ? Math.max(...since) : this.read()
  }

  stop(): void {
    clearInterval(this.timer)
  }
}
