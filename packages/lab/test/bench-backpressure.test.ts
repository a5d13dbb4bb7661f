import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runBenchBackpressure } from '../src/bench/backpressure-command.ts'
import { localDriverSkipReason } from '../src/drivers/local/test-support.ts'

const sink = () => {
  let text = ''
  return { stream: new Writable({ write(c, _e, cb) { text += String(c); cb() } }), text: () => text }
}
let base: string
beforeEach(() => { base = mkdtempSync(join(tmpdir(), 'bench-backpressure-test-')) })
afterEach(() => rmSync(base, { recursive: true, force: true }))

function io() {
  const stdout = sink()
  const stderr = sink()
  return { io: { cwd: base, env: { HOME: base, PATH: process.env.PATH ?? '' }, stdout: stdout.stream, stderr: stderr.stream }, stdout, stderr }
}

const flags = { floodMiB: 16, rounds: 1, baselineSamples: 5, gapMs: 0, out: 'out' }

describe('bench backpressure', () => {
  it('skips with the reason when the local driver cannot run here, and writes nothing', async () => {
    const t = io()
    const r = await runBenchBackpressure(flags, t.io, new AbortController().signal, { env: { PATH: '' }, isRoot: false, pingDocker: () => Promise.resolve() })
    expect(r).toMatchObject({ code: 0, skipped: expect.stringMatching(/needs root/) })
    expect(t.stderr.text()).toContain('infra-lab bench backpressure: skipped: the local driver needs root')
    expect(existsSync(join(base, 'out'))).toBe(false)
  })

  it.skipIf(localDriverSkipReason() !== undefined)(`floods one session past a slow viewer, times the other's echoes, and writes the results${localDriverSkipReason() ? ` (skipped: ${localDriverSkipReason()})` : ''}`, async () => {
    const t = io()
    const r = await runBenchBackpressure({ ...flags, note: 'a test run' }, t.io, new AbortController().signal)
    expect(r.code, t.stderr.text()).toBe(0)
    const json = JSON.parse(readFileSync(join(base, 'out', 'backpressure-local.json'), 'utf8'))
    expect(json).toMatchObject({ benchmark: 'backpressure', driver: 'local', note: 'a test run', partial: false })
    expect(json.rounds).toHaveLength(1)
    expect(json.rounds[0].noFlood.n).toBe(5)
    expect(json.rounds[0].flood.n).toBeGreaterThan(0)
    expect(json.rounds[0].reattachBytes).toBeGreaterThan(0)
    expect(json.rss.peakMiB).toBeGreaterThanOrEqual(json.rss.beforeMiB)
    expect(json.rss.perSecond.length).toBeGreaterThan(0)
    const md = readFileSync(join(base, 'out', 'backpressure-local.md'), 'utf8')
    expect(md).toContain('| gateway RSS rise (peak minus before the first flood) | < 64 MiB |')
    expect(md).toContain('flood / no flood | <= 2x |')
    expect(md).toContain('Command: `npx infra-lab bench backpressure --flood-mib 16 --rounds 1')
    expect(t.stderr.text()).toMatch(/round 1\/1: 16 MiB flood in/)
  }, 300_000)
})
