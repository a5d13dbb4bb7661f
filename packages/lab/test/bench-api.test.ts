import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runBenchApi } from '../src/bench/api-command.ts'
import { summaryRows } from '../src/bench/summary.ts'
import { dockerSkipReason } from '../src/drivers/docker/test-support.ts'
import { localDriverSkipReason } from '../src/drivers/local/test-support.ts'

const sink = () => {
  let text = ''
  return { stream: new Writable({ write(c, _e, cb) { text += String(c); cb() } }), text: () => text }
}
let base: string
beforeEach(() => { base = mkdtempSync(join(tmpdir(), 'bench-api-test-')) })
afterEach(() => rmSync(base, { recursive: true, force: true }))

function io(env: Record<string, string> = {}) {
  const stdout = sink()
  const stderr = sink()
  return { io: { cwd: base, env: { HOME: base, ...env }, stdout: stdout.stream, stderr: stderr.stream }, stdout, stderr }
}

describe('bench api', () => {
  it('skips the ECS driver with a clear message when no AWS credentials are present', async () => {
    const t = io()
    const r = await runBenchApi({ driver: 'ecs', calls: 1, concurrency: 1, warmup: 0, out: 'out' }, t.io, new AbortController().signal)
    expect(r).toMatchObject({ code: 0, skipped: expect.stringMatching(/no AWS credentials/) })
    expect(t.stderr.text()).toContain('bench api --driver ecs: skipped: no AWS credentials')
    expect(existsSync(join(base, 'out'))).toBe(false)
  })

  it('skips a driver that does not exist here', async () => {
    const t = io()
    const r = await runBenchApi({ driver: 'podman', calls: 1, concurrency: 1, warmup: 0, out: 'out' }, t.io, new AbortController().signal)
    expect(r.skipped).toMatch(/driver podman is not available here \(available: local, docker/)
  })

  it.skipIf(localDriverSkipReason() !== undefined)(`times create, list, connect and destroy of the local driver${localDriverSkipReason() ? ` (skipped: ${localDriverSkipReason()})` : ''}`, async () => {
    const t = io()
    const r = await runBenchApi({ driver: 'local', calls: 2, concurrency: 2, warmup: 0, out: 'out' }, t.io, new AbortController().signal)
    expect(r.code).toBe(0)
    const json = JSON.parse(readFileSync(join(base, 'out', 'api-local.json'), 'utf8'))
    expect(json.results.map((x: { call: string; latencyMs: { n: number } }) => [x.call, x.latencyMs.n])).toEqual([['create', 2], ['list', 1], ['connect', 2], ['destroy', 2]])
    expect(json.command).toContain('bench api --driver local')
    const rows = summaryRows(join(base, 'out'))
    expect(rows.map((x) => x.experiment)).toContain('driver local: create')
  })

  it('times the same calls of the docker driver when a daemon answers (skipped with the reason otherwise)', async (ctx) => {
    const why = await dockerSkipReason()
    if (why) ctx.skip(why)
    const t = io()
    const r = await runBenchApi({ driver: 'docker', calls: 2, concurrency: 1, warmup: 0, out: 'out' }, t.io, new AbortController().signal)
    expect(r.code, t.stderr.text()).toBe(0)
    const json = JSON.parse(readFileSync(join(base, 'out', 'api-docker.json'), 'utf8'))
    expect(json.results.map((x: { call: string; latencyMs: { n: number } }) => [x.call, x.latencyMs.n])).toEqual([['create', 2], ['list', 2], ['connect', 2], ['destroy', 2]])
  })
})
