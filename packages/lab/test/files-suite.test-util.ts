import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SandboxDriver } from '../src/drivers/types.ts'
import { waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { hostPidsWith, readSse, runningSession, startAgentGateway, type AgentApi, type Gw } from './agent-api.test-util.ts'

export interface FilesSuiteEnv {
  readonly driver: SandboxDriver
  /** More of the gateway's configuration (the ECS driver's settings). */
  readonly gatewayConfig?: Record<string, unknown>
  /** Host directory of every user's workspace (undefined: the sandboxes are not on this host's disk). */
  readonly workspacesDir: string | undefined
  /** The per-user workspace quota the driver enforces (0: none, the 507 test is skipped). */
  readonly quotaBytes: number
  /** Whether the sandboxes' processes are visible on this host (local, docker). */
  readonly hostPids: boolean
  cleanup(): Promise<void>
}

const MB = 1_000_000

/**
 * Files through the gateway's file API on real sandboxes: binary round trips, directories, quota
 * and permission errors; alice's attempts on bob's workspace through every file route; and a
 * session ending under a running command or an open stream.
 */
export function runFilesSuite(name: string, makeEnv: () => Promise<FilesSuiteEnv>): void {
  describe(`files API and its boundaries: ${name}`, () => {
    const tag = randomBytes(4).toString('hex')
    const BOB_SECRET = `bob-secret-${tag}`
    let env: FilesSuiteEnv
    let gw: Gw
    let api: AgentApi
    let alice: string
    let bob: string

    beforeAll(async () => {
      env = await makeEnv()
      ;({ gw, api } = await startAgentGateway(env.driver, env.gatewayConfig))
      ;[alice, bob] = await Promise.all([runningSession(api, gw, 'alice'), runningSession(api, gw, 'bob')])
      expect((await api.put(bob, 'private/secret.txt', BOB_SECRET)).status).toBe(201)
      await api.sh(bob, 'chmod 600 private/secret.txt')
    }, 120_000)
    afterAll(async () => {
      await gw?.cleanup()
      await env?.cleanup()
    })

    it('round-trips 50 MB of random bytes, streamed both ways, with content-length', async () => {
      const data = randomBytes(50 * MB)
      const put = await api.put(alice, 'blobs/random.bin', Readable.toWeb(Readable.from(chunksOf(data, 1 << 20))) as ReadableStream)
      expect(put.status).toBe(201)
      expect(await put.json()).toEqual({ path: '/home/user/blobs/random.bin', size: data.length })
      const get = await api.get(alice, 'blobs/random.bin')
      expect(get.status).toBe(200)
      expect(get.headers.get('content-type')).toBe('application/octet-stream')
      expect(get.headers.get('content-length')).toBe(String(data.length))
      const hash = createHash('sha256')
      for await (const chunk of get.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk)
      expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'))
      expect((await api.del(alice, 'blobs/random.bin')).status).toBe(204)
    }, 240_000)

    it('creates parents, lists directories, removes files and (recursively) directories', async () => {
      expect((await api.put(alice, 'tree/a/b/c.txt', 'see')).status).toBe(201)
      expect((await api.put(alice, '/home/user/tree/top.txt', '')).status).toBe(201)
      await api.sh(alice, 'ln -s a tree/link')
      const list = (await (await api.get(alice, 'tree')).json()) as { entries: Array<{ name: string; type: string; size: number; mode: string; mtime: string }> }
      const byName = Object.fromEntries(list.entries.map((e) => [e.name, e]))
      expect(Object.keys(byName).sort()).toEqual(['a', 'link', 'top.txt'])
      expect(byName['a']).toMatchObject({ type: 'dir' })
      expect(byName['link']).toMatchObject({ type: 'symlink' })
      expect(byName['top.txt']).toMatchObject({ type: 'file', size: 0 })
      expect(byName['top.txt']!.mode).toMatch(/^0[0-7]{3}$/)
      expect(Date.parse(byName['top.txt']!.mtime)).toBeGreaterThan(0)
      expect(await (await api.get(alice, 'tree/link/b/c.txt')).text()).toBe('see')
      const missing = await api.get(alice, 'tree/none')
      expect(missing.status).toBe(404)
      expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('file_not_found')
      expect((await api.del(alice, 'tree/none')).status).toBe(404)
      expect((await api.del(alice, 'tree/a')).status).toBe(409)
      expect((await api.put(alice, 'tree/a', 'x')).status).toBe(409)
      expect((await api.del(alice, 'tree/top.txt')).status).toBe(204)
      expect((await api.del(alice, 'tree', true)).status).toBe(204)
      expect((await api.get(alice, 'tree')).status).toBe(404)
    }, 60_000)

    it("answers 403 permission_denied for what the session's user may not touch", async () => {
      const passwd = await api.sh(alice, 'cat /etc/passwd')
      for (const res of [await api.put(alice, '/etc/passwd', 'root::0:0::/:/bin/sh\n'), await api.put(alice, '/usr/evil', 'x'), await api.del(alice, '/etc/passwd')]) {
        expect(res.status).toBe(403)
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('permission_denied')
      }
      expect(await api.sh(alice, 'cat /etc/passwd')).toBe(passwd)
    })

    it('answers 507 insufficient_storage past the workspace quota, and keeps no partial file', async (ctx) => {
      if (env.quotaBytes === 0) return ctx.skip()
      const size = env.quotaBytes + 8 * MB
      const res = await api.put(alice, 'huge.bin', Readable.toWeb(Readable.from(chunksOf(Buffer.alloc(size, 1), 1 << 20))) as ReadableStream)
      expect(res.status).toBe(507)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('insufficient_storage')
      expect((await api.get(alice, 'huge.bin')).status).toBe(404)
      expect(await api.sh(alice, 'ls -A | grep -c huge || true')).toBe('0\n')
    }, 240_000)

    it("alice reaches none of bob's files through any file route: .., absolute paths, host paths, planted symlinks", async () => {
      const host = env.workspacesDir ? join(env.workspacesDir, 'bob') : '/nonexistent-host-path'
      await api.sh(alice, `ln -sfn ${host} hostlink; ln -sfn /proc/1/root${host} rootlink; ln -sfn ../bob homelink; ln -sfn /proc/1/cwd cwdlink`)
      const paths = [
        '../bob/private/secret.txt', '../../home/bob/private/secret.txt', '/home/bob/private/secret.txt', `${host}/private/secret.txt`,
        `/proc/1/root${host}/private/secret.txt`, '/proc/self/root/../bob/private/secret.txt', 'hostlink/private/secret.txt',
        'rootlink/private/secret.txt', 'homelink/private/secret.txt', 'cwdlink/../bob/private/secret.txt', `/proc/1/cwd/../bob/private/secret.txt`,
      ]
      // every call must answer (a hung one is a finding too, named here rather than as a test timeout)
      const hung: string[] = []
      const call = async (what: string, path: string, init: RequestInit & { json?: unknown } = {}, query = '') => {
        try {
          return await api.fetch(`/v1/sessions/${alice}/files?path=${encodeURIComponent(path)}${query}`, { ...init, signal: AbortSignal.timeout(15_000) })
        } catch {
          hung.push(`${what} ${path}`)
          return undefined
        }
      }
      for (const p of paths) {
        const got = await call('GET', p)
        if (got) {
          expect(Buffer.from(await got.arrayBuffer()).toString('latin1'), p).not.toContain(BOB_SECRET)
          expect([403, 404, 409], `${p} -> ${got.status}`).toContain(got.status)
        }
        const listing = await call('GET', p.replace(/\/secret\.txt$/, ''))
        if (listing) expect(await listing.text(), p).not.toContain('secret.txt')
      }
      // writing and removing through the same paths changes nothing of bob's
      for (const p of paths) {
        await call('PUT', p, { method: 'PUT', body: 'overwritten-by-alice', headers: { 'content-type': 'application/octet-stream' } })
        await call('DELETE', p, { method: 'DELETE' })
        await call('DELETE recursive', p.replace(/\/secret\.txt$/, ''), { method: 'DELETE' }, '&recursive=1')
      }
      expect(await (await api.get(bob, 'private/secret.txt')).text()).toBe(BOB_SECRET)
      if (env.workspacesDir && existsSync(join(host, 'private'))) expect(readFileSync(join(host, 'private', 'secret.txt'), 'utf8')).toBe(BOB_SECRET)
      // and the agent's own process does not give the user more than the shell has
      const environ = await api.get(alice, '/proc/1/environ')
      if (environ.status === 200) expect(await environ.text()).not.toMatch(/AGENT_TLS_PSK=|bob-secret/)
      // last, so a hung call does not hide the checks above
      expect(hung).toEqual([])
    }, 180_000)

    it('a session ending under a running command or an open stream ends the request cleanly, and leaves no process behind', async () => {
      const victim = await runningSession(api, gw, 'erin')
      const marker = `lab-end-${tag}`
      const running = api.fetch(`/v1/sessions/${victim}/exec`, { method: 'POST', json: { cmd: `(exec -a ${marker}-fg sleep 300)`, timeoutS: 600 } })
      const bg = await api.background(victim, { cmd: `exec -a ${marker}-bg sleep 300` })
      const follow = await api.fetch(`/v1/sessions/${victim}/processes/${bg.processId}/output?follow=1`)
      const streamed = await api.fetch(`/v1/sessions/${victim}/exec`, { method: 'POST', json: { cmd: 'while :; do echo y; sleep 0.1; done' }, headers: { accept: 'text/event-stream' } })
      if (env.hostPids) await waitFor(() => hostPidsWith(marker).length === 2, 10_000, 'both commands to run')
      else await new Promise((r) => setTimeout(r, 500))
      expect((await api.fetch(`/v1/sessions/${victim}`, { method: 'DELETE' })).status).toBe(204)

      const fg = await running
      expect(fg.status).toBe(409)
      expect(((await fg.json()) as { error: { code: string } }).error.code).toBe('session_ended')
      for (const res of [follow, streamed]) {
        const { events } = await readSse(res, undefined, 20_000)
        expect(events.at(-1)?.event).toMatch(/^(error|exit)$/)
        if (events.at(-1)?.event === 'error') expect(events.at(-1)!.data).toMatchObject({ code: 'session_ended' })
      }
      const after = await api.fetch(`/v1/sessions/${victim}/exec`, { method: 'POST', json: { cmd: 'true' } })
      expect(after.status).toBe(409)
      if (env.hostPids) await waitFor(() => hostPidsWith(marker).length === 0, 20_000, 'the commands to be gone with the sandbox')
      const sandboxId = (await gw.store.getSession(victim))!.sandboxId
      await waitFor(async () => !(await env.driver.list()).some((h) => h.id === sandboxId), 20_000, 'the sandbox to be destroyed')
    }, 120_000)

    it('an upload cut off by the client leaves no file, and no temporary file', async () => {
      const ac = new AbortController()
      async function* slow() {
        yield Buffer.alloc(1 << 20, 7)
        await new Promise((r) => setTimeout(r, 300))
        ac.abort()
      }
      await api.fetch(`/v1/sessions/${alice}/files?path=cut/partial.bin`, {
        method: 'PUT', body: Readable.toWeb(Readable.from(slow())) as ReadableStream, headers: { 'content-type': 'application/octet-stream' }, duplex: 'half', signal: ac.signal,
      } as RequestInit).catch(() => undefined)
      await waitFor(async () => {
        const list = await api.get(alice, 'cut')
        return list.status === 404 || ((await list.json()) as { entries: unknown[] }).entries.length === 0
      }, 10_000, 'nothing left of the cut upload')
      if (env.workspacesDir && existsSync(join(env.workspacesDir, 'alice', 'cut'))) expect(readdirSync(join(env.workspacesDir, 'alice', 'cut'))).toEqual([])
    }, 60_000)
  })
}

function* chunksOf(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size)
}
