import type { OpRequest } from '@infra-lab/protocol'
import { StreamFd } from '@infra-lab/protocol/ops-limits'
import { writeTo } from './exec-op.ts'
import type { OpContext } from './op-context.ts'
import { CANCELLED, InStream, OutStream } from './op-link.ts'
import type { ProcessTable } from './process-table.ts'

type Req<T extends OpRequest['type']> = Extract<OpRequest, { type: T }>

export function listProcesses(ctx: OpContext, table: ProcessTable): void {
  ctx.end({ type: 'process_list', opId: ctx.opId, processes: table.list() })
}

export function signalProcess(ctx: OpContext, table: ProcessTable, m: Req<'process_signal'>): void {
  const entry = table.get(m.processId)
  if (!entry) return ctx.error('process_not_found', `no process ${m.processId}`)
  if (entry.end) return ctx.error('process_not_found', `process ${m.processId} has exited`)
  entry.signal(m.signal)
  ctx.done()
}

/**
 * Replays what the table kept of a process's output, then (`follow`) what comes, until the
 * process ended and all of it was sent. The reader is a cursor into the process's ring: it
 * never pauses the process, and when it falls behind what is kept it skips to the oldest byte
 * still there.
 */
export function followOutput(ctx: OpContext, table: ProcessTable, m: Req<'process_output'>): void {
  const entry = table.get(m.processId)
  if (!entry) return ctx.error('process_not_found', `no process ${m.processId}`)
  ctx.link.answer({ type: 'started', opId: ctx.opId, processId: entry.processId, pid: entry.pid })
  const out = [new OutStream(ctx.link, ctx.opId, StreamFd.STDOUT), new OutStream(ctx.link, ctx.opId, StreamFd.STDERR)]
  const stopAt = m.follow ? Infinity : entry.ring.end
  let cursor = entry.ring.start
  const stop = () => {
    entry.followers.delete(pump)
    ctx.done()
  }
  const pump = (): void => {
    if (ctx.isEnded) return
    for (;;) {
      const piece = cursor < stopAt ? entry.ring.at(cursor) : undefined
      if (!piece) {
        const over = !m.follow || entry.end !== undefined || table.get(entry.processId) !== entry
        if (over && out.every((o) => o.idle)) stop()
        return
      }
      const o = out[piece.fd - 1]!
      if (o.blocked) return
      const data = piece.data.subarray(0, Math.min(piece.data.length, stopAt - Math.max(cursor, entry.ring.start)))
      o.offer(data)
      cursor = Math.max(cursor, entry.ring.start) + data.length
    }
  }
  for (const o of out) o.onUnblocked = pump
  entry.followers.add(pump)
  ctx.on({ credit: (fd, bytes) => out[fd - 1]?.grant(bytes), cancel: stop })
  pump()
}

/** Writes the gateway's bytes to the process's stdin; `close` closes it after them. */
export function writeStdin(ctx: OpContext, table: ProcessTable, m: Req<'process_stdin'>): void {
  const entry = table.get(m.processId)
  const pipe = entry?.stdin
  if (!entry || entry.end || !pipe) return ctx.error('process_not_found', `process ${m.processId} is not running with an open stdin`)
  let bytes = 0
  const input = new InStream(ctx, async (chunk) => {
    await writeTo(pipe, chunk)
    bytes += chunk.length
  }, () => {
    if (m.close) {
      pipe.end()
      if (entry.stdin === pipe) entry.stdin = undefined
    }
    ctx.done(bytes)
  }, () => ctx.done(bytes)) // the process closed its stdin, or the gateway cancelled: what was written counts
  ctx.on({ stream: (fd, data) => fd === StreamFd.STDIN && input.push(data), cancel: () => input.abort(CANCELLED) })
}
