import { readdirSync, readFileSync } from 'node:fs'
import type { SandboxDriver } from '../src/drivers/types.ts'
import { auth, startTestGateway, waitFor } from '../src/gateway/test-gateway.test-util.ts'

export type Gw = Awaited<ReturnType<typeof startTestGateway>>

export interface ExecResult {
  exitCode: number | null
  signal: string | null
  stdout: string
  stderr: string
  timedOut: boolean
  truncated: boolean
  durationMs: number
}

export interface SseEvent {
  readonly event: string
  readonly data: unknown
}

/** The exec and file API over real HTTP (a real port: streams, disconnects and flow control are the real thing). */
export class AgentApi {
  constructor(readonly url: string) {}

  fetch(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
    const { json, ...rest } = init
    const headers = { ...auth, ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...(rest.headers as Record<string, string> | undefined) }
    return fetch(`${this.url}${path}`, { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) })
  }

  async createSession(user: string, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await this.fetch('/v1/sessions', { method: 'POST', json: { user, ...extra } })
    if (res.status !== 201) throw new Error(`create ${user}: ${res.status} ${await res.text()}`)
    return ((await res.json()) as { id: string }).id
  }

  /** Foreground exec that must succeed at the HTTP level. */
  async exec(id: string, body: Record<string, unknown>, query = ''): Promise<ExecResult> {
    const res = await this.fetch(`/v1/sessions/${id}/exec${query}`, { method: 'POST', json: body })
    if (res.status !== 200) throw new Error(`exec ${JSON.stringify(body)}: ${res.status} ${await res.text()}`)
    return (await res.json()) as ExecResult
  }

  /** A shell line's stdout (exit 0 required). */
  async sh(id: string, cmd: string): Promise<string> {
    const r = await this.exec(id, { cmd })
    if (r.exitCode !== 0) throw new Error(`${cmd}: exit ${r.exitCode} ${r.signal ?? ''}\n${r.stderr}`)
    return r.stdout
  }

  async background(id: string, body: Record<string, unknown>): Promise<{ processId: string; pid: number }> {
    const res = await this.fetch(`/v1/sessions/${id}/exec`, { method: 'POST', json: { ...body, background: true } })
    if (res.status !== 202) throw new Error(`background exec: ${res.status} ${await res.text()}`)
    return (await res.json()) as { processId: string; pid: number }
  }

  async processes(id: string): Promise<Array<{ processId: string; running: boolean; exitCode: number | null; signal: string | null; pid: number; cmd: unknown; startedAt: string }>> {
    const res = await this.fetch(`/v1/sessions/${id}/processes`)
    if (res.status !== 200) throw new Error(`processes: ${res.status} ${await res.text()}`)
    return (await res.json()) as never
  }

  put(id: string, path: string, body: NonNullable<RequestInit['body']>, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(`/v1/sessions/${id}/files?path=${encodeURIComponent(path)}`, {
      method: 'PUT', body, headers: { 'content-type': 'application/octet-stream', ...headers }, duplex: 'half',
    } as RequestInit)
  }

  get(id: string, path: string): Promise<Response> {
    return this.fetch(`/v1/sessions/${id}/files?path=${encodeURIComponent(path)}`)
  }

  del(id: string, path: string, recursive = false): Promise<Response> {
    return this.fetch(`/v1/sessions/${id}/files?path=${encodeURIComponent(path)}${recursive ? '&recursive=1' : ''}`, { method: 'DELETE' })
  }
}

/** Reads server-sent events from a response until `until` says stop or the stream ends. */
export async function readSse(res: Response, until: (events: SseEvent[]) => boolean = () => false, timeoutMs = 60_000): Promise<{ events: SseEvent[]; comments: number }> {
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) throw new Error(`not an event stream: ${res.status} ${await res.text()}`)
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  const events: SseEvent[] = []
  let comments = 0
  let buf = ''
  const deadline = setTimeout(() => void reader.cancel(new Error('timed out')), timeoutMs)
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      buf += decoder.decode(value, { stream: true })
      let i: number
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i)
        buf = buf.slice(i + 2)
        if (block.startsWith(':')) {
          comments++
          continue
        }
        const name = /^event: (.*)$/m.exec(block)?.[1] ?? 'message'
        const data = /^data: (.*)$/m.exec(block)?.[1]
        events.push({ event: name, data: data === undefined ? undefined : JSON.parse(data) })
      }
      if (until(events)) {
        await reader.cancel()
        break
      }
    }
  } finally {
    clearTimeout(deadline)
  }
  return { events, comments }
}

/** What the stdout events of a stream add up to. */
export function joined(events: readonly SseEvent[], stream: 'stdout' | 'stderr'): string {
  return events.filter((e) => e.event === stream).map((e) => e.data as string).join('')
}

/** Host pids whose argv[0] starts with `marker` (local and docker sandboxes share the host's pid view). */
export function hostPidsWith(marker: string): number[] {
  const pids: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')[0]!.startsWith(marker)) pids.push(Number(name))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

/**
 * A shell snippet that prints how many processes in the sandbox run as `marker` (their argv[0],
 * set with `exec -a`): the shells that started them carry the marker in their arguments only.
 */
export function countInSandbox(marker: string): string {
  return `n=0; for f in /proc/[0-9]*/cmdline; do a=$(tr '\\0' '\\n' < $f 2>/dev/null | head -n 1); case "$a" in ${marker}*) n=$((n+1));; esac; done; echo $n`
}

export async function runningSession(api: AgentApi, gw: Gw, user: string, extra: Record<string, unknown> = {}): Promise<string> {
  const id = await api.createSession(user, extra)
  await waitFor(async () => (await gw.store.getSession(id))?.state === 'running', 15_000, `${user}'s session to run`)
  return id
}

export async function startAgentGateway(driver: SandboxDriver, extra: Record<string, unknown> = {}): Promise<{ gw: Gw; api: AgentApi }> {
  const gw = await startTestGateway(driver, { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 8 }], ...extra })
  await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 1, 30_000, 'the pool to fill')
  return { gw, api: new AgentApi(gw.url) }
}
