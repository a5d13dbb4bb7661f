import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { Readable } from 'node:stream'
import { answerJson, type BenchHttp } from './exec-http.ts'
import { cpuSeconds, PeakRss, type RssRise } from './exec-processes.ts'

export type TransferKind = 'stream' | 'upload'

/** One bulk transfer through the gateway and the agent, with both processes' memory. */
export interface TransferResult {
  readonly kind: TransferKind
  /** What ran, e.g. `exec head -c 200M /dev/zero (SSE, base64)`. */
  readonly what: string
  /** Payload bytes that arrived (stream: decoded stdout; upload: the size the gateway answered). */
  readonly bytes: number
  readonly seconds: number
  readonly mibPerS: number
  readonly gateway: RssRise
  readonly agent: RssRise
  /** CPU seconds each process used during the transfer: which one the transfer waits for. */
  readonly cpuSeconds: { readonly gateway: number; readonly agent: number; readonly client: number }
}

export interface TransferTarget {
  readonly client: BenchHttp
  readonly sessionId: string
  readonly gatewayPid: number
  readonly agentPid: number
}

const MiB = 1024 * 1024
const UPLOAD_CHUNK = MiB
const TRANSFER_TIMEOUT_S = 1800

/** Runs `fn` with the peak RSS of the gateway and the agent, and the CPU time of both and of this process, taken over it. */
async function withRss<T>(t: TransferTarget, fn: () => Promise<T>): Promise<{ value: T; seconds: number; gateway: RssRise; agent: RssRise; cpuSeconds: TransferResult['cpuSeconds'] }> {
  const gw = new PeakRss(t.gatewayPid)
  const agent = new PeakRss(t.agentPid)
  const cpu0 = { gateway: cpuSeconds(t.gatewayPid), agent: cpuSeconds(t.agentPid), client: process.cpuUsage() }
  const t0 = performance.now()
  try {
    const value = await fn()
    const seconds = (performance.now() - t0) / 1000
    const client = process.cpuUsage(cpu0.client)
    const cpu = { gateway: cpuSeconds(t.gatewayPid) - cpu0.gateway, agent: cpuSeconds(t.agentPid) - cpu0.agent, client: (client.user + client.system) / 1e6 }
    return { value, seconds, gateway: gw.end(), agent: agent.end(), cpuSeconds: cpu }
  } finally {
    gw.stop()
    agent.stop()
  }
}

/**
 * `head -c <mib>M /dev/zero` streamed as server-sent events and read to the end. base64: zero
 * bytes as JSON text would be `\u0000`, six bytes each, and measure JSON escaping instead.
 */
export async function streamExec(t: TransferTarget, mib: number): Promise<TransferResult> {
  const expected = mib * MiB
  const sse = new SseCounter()
  const { value: status, seconds, gateway, agent, cpuSeconds: cpu } = await withRss(t, () => t.client.streamed(
    'POST', `/v1/sessions/${t.sessionId}/exec?encoding=base64`,
    { cmd: ['head', '-c', `${mib}M`, '/dev/zero'], timeoutS: TRANSFER_TIMEOUT_S },
    { accept: 'text/event-stream' }, (c) => sse.push(c),
  ))
  if (status.status !== 200 || !String(status.headers['content-type']).startsWith('text/event-stream')) {
    throw new Error(`streamed exec: HTTP ${status.status} (${status.headers['content-type']}): ${sse.text.slice(0, 300)}`)
  }
  if (sse.exit?.exitCode !== 0) throw new Error(`streamed exec: no exit event with exit code 0 (got ${JSON.stringify(sse.exit)})`)
  if (sse.stdoutBytes !== expected) throw new Error(`streamed exec: ${sse.stdoutBytes} bytes of stdout, expected ${expected}`)
  return { kind: 'stream', what: `exec head -c ${mib}M /dev/zero (SSE, ?encoding=base64)`, bytes: sse.stdoutBytes, seconds, mibPerS: expected / MiB / seconds, gateway, agent, cpuSeconds: cpu }
}

/** `PUT /files` of `mib` MiB streamed from a generator (one 1 MiB block of random bytes, sent again and again). */
export async function uploadFile(t: TransferTarget, mib: number, path: string): Promise<TransferResult> {
  const total = mib * MiB
  const block = randomBytes(UPLOAD_CHUNK)
  function* blocks(): Generator<Buffer> {
    for (let sent = 0; sent < total; sent += UPLOAD_CHUNK) yield block.subarray(0, Math.min(UPLOAD_CHUNK, total - sent))
  }
  const filesPath = `/v1/sessions/${t.sessionId}/files?path=${encodeURIComponent(path)}`
  const { value: answer, seconds, gateway, agent, cpuSeconds: cpu } = await withRss(t, () => t.client.upload('PUT', filesPath, Readable.from(blocks()), total))
  const put = answerJson<{ path: string; size: number }>(answer, 201, `PUT ${path}`)
  if (put.size !== total) throw new Error(`PUT ${path}: the gateway wrote ${put.size} bytes, expected ${total}`)
  const removed = await t.client.json('DELETE', filesPath)
  if (removed.status !== 204) throw new Error(`DELETE ${path}: HTTP ${removed.status}`)
  return { kind: 'upload', what: `PUT /v1/sessions/{id}/files, ${mib} MiB streamed from a generator`, bytes: put.size, seconds, mibPerS: total / MiB / seconds, gateway, agent, cpuSeconds: cpu }
}

/**
 * Reads a server-sent event stream as it arrives: counts the decoded bytes of `stdout` events
 * and keeps the `exit` event. Only complete events (up to a blank line) are parsed.
 */
export class SseCounter {
  stdoutBytes = 0
  stderrBytes = 0
  exit: { exitCode: number | null; signal: string | null } | undefined
  /** The start of the answer, for an error message when it was not a stream. */
  text = ''
  private pending = ''

  push(chunk: Buffer): void {
    const s = chunk.toString('latin1') // base64 in JSON strings is ASCII
    if (this.text.length < 300) this.text += s.slice(0, 300)
    this.pending += s
    const end = this.pending.lastIndexOf('\n\n')
    if (end < 0) return
    const complete = this.pending.slice(0, end)
    this.pending = this.pending.slice(end + 2)
    for (const block of complete.split('\n\n')) this.event(block)
  }

  private event(block: string): void {
    let name = 'message'
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue // a keep-alive comment
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'event') name = value
      else if (field === 'data') data.push(value)
    }
    if (data.length === 0) return
    const payload = JSON.parse(data.join('\n')) as unknown
    if (name === 'stdout') this.stdoutBytes += Buffer.byteLength(payload as string, 'base64')
    else if (name === 'stderr') this.stderrBytes += Buffer.byteLength(payload as string, 'base64')
    else if (name === 'exit') this.exit = payload as { exitCode: number | null; signal: string | null }
  }
}
