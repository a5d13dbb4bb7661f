import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SandboxDriver } from '../src/drivers/types.ts'
import { waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { countInSandbox, joined, readSse, runningSession, startAgentGateway, type AgentApi, type Gw } from './agent-api.test-util.ts'

export interface ExecSuiteEnv {
  readonly driver: SandboxDriver
  /** More of the gateway's configuration (the ECS driver's settings). */
  readonly gatewayConfig?: Record<string, unknown>
  /** What `id -u` prints in the sandbox. */
  readonly shellUid: number
  cleanup(): Promise<void>
}

/**
 * Commands through the gateway's exec API on real sandboxes with the real agent: exit codes,
 * signals, timeouts (a setsid grandchild too), stdin, tty, background + follow + signal,
 * idempotency, the 16 MiB cap, streaming, and what the caller going away does.
 */
export function runExecSuite(name: string, makeEnv: () => Promise<ExecSuiteEnv>): void {
  describe(`exec API: ${name}`, () => {
    const tag = randomBytes(4).toString('hex')
    let env: ExecSuiteEnv
    let gw: Gw
    let api: AgentApi
    let id: string

    beforeAll(async () => {
      env = await makeEnv()
      ;({ gw, api } = await startAgentGateway(env.driver, env.gatewayConfig))
      id = await runningSession(api, gw, 'carol', { env: { FOO: 'bar baz' }, secrets: { TOKEN: `tok-${tag}` } })
    }, 120_000)
    afterAll(async () => {
      await gw?.cleanup()
      await env?.cleanup()
    })

    it('runs a string with bash and an array as argv, as the session user, with its env and secrets, and passes exit codes through', async () => {
      const r = await api.exec(id, { cmd: 'echo "[$FOO] [$TOKEN] [$EXTRA] [$(id -u)] [$(pwd)]"; echo err >&2; exit 3', env: { EXTRA: 'x y' } })
      expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false, truncated: false, stderr: 'err\n' })
      expect(r.stdout).toBe(`[bar baz] [tok-${tag}] [x y] [${env.shellUid}] [/home/user]\n`)
      expect(r.durationMs).toBeGreaterThan(0)
      expect(await api.exec(id, { cmd: ['sh', '-c', 'exit 7'] })).toMatchObject({ exitCode: 7 })
      expect((await api.exec(id, { cmd: ['printf', '%s|', 'a b', '$HOME', ';rm'] })).stdout).toBe('a b|$HOME|;rm|')
      await api.sh(id, 'mkdir -p sub/dir')
      expect((await api.exec(id, { cmd: 'pwd', cwd: 'sub/dir' })).stdout).toBe('/home/user/sub/dir\n')
    }, 60_000)

    it('answers 422 exec_failed for a missing program or cwd', async () => {
      for (const body of [{ cmd: ['/no/such/program'] }, { cmd: 'true', cwd: '/no/such/dir' }]) {
        const res = await api.fetch(`/v1/sessions/${id}/exec`, { method: 'POST', json: body })
        expect(res.status, JSON.stringify(body)).toBe(422)
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('exec_failed')
      }
    })

    it('reports the signal that ended a command', async () => {
      expect(await api.exec(id, { cmd: 'kill -TERM $$' })).toMatchObject({ exitCode: null, signal: 'SIGTERM' })
      expect(await api.exec(id, { cmd: ['sh', '-c', 'kill -KILL $$'] })).toMatchObject({ exitCode: null, signal: 'SIGKILL' })
    })

    it('a timeout kills everything the command started, a setsid grandchild too', async () => {
      const marker = `lab-timeout-${tag}`
      // sandbox images need not have setsid: bring the host's (it needs only libc)
      expect((await api.put(id, 'bin/setsid', readFileSync('/usr/bin/setsid'))).status).toBe(201)
      await api.sh(id, 'chmod 755 bin/setsid')
      const timed = api.exec(id, { cmd: `~/bin/setsid bash -c 'exec -a ${marker} sleep 300' & (exec -a ${marker} sleep 300) & wait`, timeoutS: 3 })
      await waitFor(async () => (await api.sh(id, countInSandbox(marker))).trim() === '2', 10_000, 'the child and the setsid grandchild to run')
      const r = await timed
      expect(r).toMatchObject({ timedOut: true })
      expect(r.durationMs).toBeGreaterThanOrEqual(3000)
      await waitFor(async () => (await api.sh(id, countInSandbox(marker))).trim() === '0', 10_000, 'the grandchildren to be gone')
    }, 60_000)

    it('feeds stdin from the body, and runs in a PTY with tty', async () => {
      expect((await api.exec(id, { cmd: 'cat; echo', stdin: 'hello €' })).stdout).toBe('hello €\n')
      expect((await api.exec(id, { cmd: 'test -t 0 && echo tty || echo no-tty' })).stdout).toBe('no-tty\n')
      const t = await api.exec(id, { cmd: 'test -t 1 && echo tty; readlink /proc/self/fd/1', tty: true })
      expect(t.stdout).toMatch(/^tty\r?\n\/dev\/pts\/\d+/)
      expect(t.stderr).toBe('')
    })

    it('returns output that is not UTF-8 exactly with ?encoding=base64', async () => {
      const r = await api.exec(id, { cmd: "printf '\\xff\\x00\\xfe'; printf '\\x80' >&2" }, '?encoding=base64')
      expect(Buffer.from(r.stdout, 'base64')).toEqual(Buffer.from([0xff, 0x00, 0xfe]))
      expect(Buffer.from(r.stderr, 'base64')).toEqual(Buffer.from([0x80]))
    })

    it('keeps 16 MiB of a stream, says truncated, and lets the command run to its end', async () => {
      const r = await api.exec(id, { cmd: "head -c 20000000 /dev/zero | tr '\\0' a; echo done >&2", timeoutS: 120 })
      expect(r).toMatchObject({ exitCode: 0, truncated: true, stderr: 'done\n' })
      expect(r.stdout.length).toBe(16 * 1024 * 1024)
      expect(r.stdout.replaceAll('a', '')).toBe('')
    }, 180_000)

    it('streams as server-sent events: chunks as JSON strings, characters whole across chunks, then exit', async () => {
      const res = await api.fetch(`/v1/sessions/${id}/exec`, { method: 'POST', json: { cmd: "printf '\\xe2'; sleep 0.3; printf '\\x82\\xac\\n'; echo oops >&2; exit 4" }, headers: { accept: 'text/event-stream' } })
      expect(res.status).toBe(200)
      const { events } = await readSse(res)
      expect(joined(events, 'stdout')).toBe('€\n')
      expect(joined(events, 'stderr')).toBe('oops\n')
      expect(events.filter((e) => e.event === 'stdout').every((e) => typeof e.data === 'string' && e.data !== '\ufffd')).toBe(true)
      expect(events.at(-1)).toMatchObject({ event: 'exit', data: { exitCode: 4, signal: null, timedOut: false } })
      expect(Object.keys(events.at(-1)!.data as object)).not.toContain('stdout')
    })

    it('streams without a cap', async () => {
      const res = await api.fetch(`/v1/sessions/${id}/exec`, { method: 'POST', json: { cmd: "head -c 40000000 /dev/zero | tr '\\0' b", timeoutS: 300 }, headers: { accept: 'text/event-stream' } })
      const { events } = await readSse(res, undefined, 240_000)
      expect(joined(events, 'stdout').length).toBe(40_000_000)
      expect(events.at(-1)).toMatchObject({ event: 'exit', data: { exitCode: 0 } })
    }, 300_000)

    it('a stream whose client stops reading stalls the command, not the gateway, and the session stays responsive', async () => {
      const res = await api.fetch(`/v1/sessions/${id}/exec`, {
        method: 'POST', headers: { accept: 'text/event-stream' },
        json: { cmd: 'i=0; while [ $i -lt 100000 ]; do head -c 65536 /dev/zero | tr "\\0" z; i=$((i+1)); echo $i > progress; done', timeoutS: 600 },
      })
      const reader = res.body!.getReader()
      await reader.read()
      const heapBefore = process.memoryUsage().rss
      // nobody reads: once the windows between here and the command are full, it stops writing
      let last = -1
      await waitFor(async () => {
        const now = Number(await api.sh(id, 'cat progress'))
        const stalled = now === last
        last = now
        await new Promise((r) => setTimeout(r, 1000))
        return stalled
      }, 60_000, 'the command to stall behind the unread stream')
      expect(last).toBeLessThan(100_000)
      expect(process.memoryUsage().rss - heapBefore).toBeLessThan(64 * 1024 * 1024)
      expect((await api.exec(id, { cmd: 'echo still here' })).stdout).toBe('still here\n')
      await reader.cancel()
    }, 120_000)

    // The keep-alive comment is the gateway's alone (no driver is involved): one driver proves it.
    if (name === 'local') it('sends a comment line every 15 s on a quiet stream', async () => {
      const res = await api.fetch(`/v1/sessions/${id}/exec`, { method: 'POST', json: { cmd: 'sleep 16; echo done' }, headers: { accept: 'text/event-stream' } })
      const { events, comments } = await readSse(res)
      expect(comments).toBeGreaterThanOrEqual(1)
      expect(joined(events, 'stdout')).toBe('done\n')
    }, 40_000)

    it('runs in the background, replays and follows its output, takes stdin and signals', async () => {
      const bg = await api.background(id, { cmd: 'echo started; while read line; do echo "got:$line"; done; echo eof' })
      expect(bg.processId).toMatch(/^proc-[a-z0-9]+$/)
      expect(bg.pid).toBeGreaterThan(0)
      const stdin = await api.fetch(`/v1/sessions/${id}/processes/${bg.processId}/stdin`, { method: 'POST', body: 'one\ntwo\n', headers: { 'content-type': 'application/octet-stream' } })
      expect(stdin.status).toBe(200)
      expect(await stdin.json()).toEqual({ bytes: 8 })
      await waitFor(async () => (await (await api.fetch(`/v1/sessions/${id}/processes/${bg.processId}/output`)).json() as { stdout: string }).stdout.includes('got:two'), 10_000, 'the echo')
      const closed = await api.fetch(`/v1/sessions/${id}/processes/${bg.processId}/stdin?close=1`, { method: 'POST', body: 'three\n', headers: { 'content-type': 'application/octet-stream' } })
      expect(closed.status).toBe(200)
      const { events } = await readSse(await api.fetch(`/v1/sessions/${id}/processes/${bg.processId}/output?follow=1`))
      expect(joined(events, 'stdout')).toBe('started\ngot:one\ngot:two\ngot:three\neof\n')
      expect(events.at(-1)).toMatchObject({ event: 'exit', data: { exitCode: 0, signal: null } })

      const sleeper = await api.background(id, { cmd: 'for i in $(seq 1 100000); do echo line$i; sleep 0.02; done' })
      const follow = api.fetch(`/v1/sessions/${id}/processes/${sleeper.processId}/output?follow=1`)
      const reading = follow.then((res) => readSse(res))
      await waitFor(async () => (await api.processes(id)).some((p) => p.processId === sleeper.processId && p.running), 5000, 'it to run')
      await new Promise((r) => setTimeout(r, 300))
      const sig = await api.fetch(`/v1/sessions/${id}/processes/${sleeper.processId}/signal`, { method: 'POST', json: { signal: 'SIGTERM' } })
      expect(sig.status).toBe(204)
      const followed = await reading
      expect(joined(followed.events, 'stdout')).toMatch(/^line1\nline2\n/)
      expect(followed.events.at(-1)).toMatchObject({ event: 'exit', data: { exitCode: null, signal: 'SIGTERM' } })
      expect((await api.processes(id)).find((p) => p.processId === sleeper.processId)).toMatchObject({ running: false, signal: 'SIGTERM', exitCode: null })
      const gone = await api.fetch(`/v1/sessions/${id}/processes/proc-${'z'.repeat(20)}/signal`, { method: 'POST', json: { signal: 'SIGKILL' } })
      expect(gone.status).toBe(404)
      expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('process_not_found')
    }, 90_000)

    it('a follower that disconnects cancels its stream, not the process', async () => {
      const bg = await api.background(id, { cmd: 'for i in $(seq 1 100000); do echo tick$i; sleep 0.02; done' })
      await readSse(await api.fetch(`/v1/sessions/${id}/processes/${bg.processId}/output?follow=1`), (ev) => joined(ev, 'stdout').includes('tick3'))
      await new Promise((r) => setTimeout(r, 300))
      expect((await api.processes(id)).find((p) => p.processId === bg.processId)?.running).toBe(true)
      await api.fetch(`/v1/sessions/${id}/processes/${bg.processId}/signal`, { method: 'POST', json: { signal: 'SIGKILL' } })
    })

    it('a foreground caller that goes away kills its command', async () => {
      const marker = `lab-gone-${tag}`
      const ac = new AbortController()
      const call = api.fetch(`/v1/sessions/${id}/exec`, { method: 'POST', json: { cmd: `(exec -a ${marker} sleep 300)` }, signal: ac.signal }).catch(() => undefined)
      await waitFor(async () => (await api.sh(id, countInSandbox(marker))).trim() === '1', 10_000, 'the command to start')
      ac.abort()
      await call
      await waitFor(async () => (await api.sh(id, countInSandbox(marker))).trim() === '0', 10_000, 'the command to be killed')
    }, 60_000)

    it('an Idempotency-Key runs the command once: a retry, even a concurrent one, gets the first result', async () => {
      const key = `key-${tag}`
      const body = { cmd: 'sleep 0.5; echo run >> idem.txt; echo $RANDOM$RANDOM' }
      const send = (b: unknown, k = key) => api.fetch(`/v1/sessions/${id}/exec`, { method: 'POST', json: b, headers: { 'idempotency-key': k } })
      const [a, b] = await Promise.all([send(body), send(body)])
      const first = (await a.json()) as { stdout: string }
      expect(a.status).toBe(200)
      expect(await b.json()).toEqual(first)
      expect(await (await send(body)).json()).toEqual(first)
      expect(await api.sh(id, 'cat idem.txt')).toBe('run\n')
      const other = await send({ ...body, cmd: 'echo other' })
      expect(other.status).toBe(409)
      expect(((await other.json()) as { error: { code: string } }).error.code).toBe('idempotency_key_reused')
      const bg1 = await (await send({ cmd: 'sleep 30', background: true }, `bg-${tag}`)).json()
      expect(await (await send({ cmd: 'sleep 30', background: true }, `bg-${tag}`)).json()).toEqual(bg1)
      expect((await api.processes(id)).filter((p) => JSON.stringify(p.cmd) === '"sleep 30"')).toHaveLength(1)
    }, 60_000)

    it('a call on a session still starting waits for its claim', async () => {
      const fresh = await api.createSession('dave')
      expect((await api.exec(fresh, { cmd: 'echo ok; id -u' })).stdout).toBe(`ok\n${env.shellUid}\n`)
      await api.fetch(`/v1/sessions/${fresh}`, { method: 'DELETE' })
    }, 60_000)
  })
}
