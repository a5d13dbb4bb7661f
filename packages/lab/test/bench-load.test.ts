import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runBenchLoad, type BenchLoadFlags } from '../src/bench/load-command.ts'
import type { ProbeEnv } from '../src/bench/driver-probe.ts'
import { runCli } from '../src/cli/run-cli.test-util.ts'
import { localDriverSkipReason } from '../src/drivers/local/test-support.ts'

const sink = () => {
  let text = ''
  return { stream: new Writable({ write(c, _e, cb) { text += String(c); cb() } }), text: () => text }
}
let base: string
beforeEach(() => { base = mkdtempSync(join(tmpdir(), 'bench-load-test-')) })
afterEach(() => rmSync(base, { recursive: true, force: true }))

function io() {
  const stdout = sink()
  const stderr = sink()
  return { io: { cwd: base, env: { HOME: base, PATH: process.env.PATH ?? '' }, stdout: stdout.stream, stderr: stderr.stream }, stdout, stderr }
}

const flags: BenchLoadFlags = { driver: 'local', sessions: 6, concurrency: 2, poolSize: 1, warmup: 2, stepTimeoutMs: 60_000, out: 'out' }
const noDaemon: ProbeEnv = { env: { PATH: '' }, isRoot: false, pingDocker: () => Promise.reject(new Error('no Docker daemon answers at /var/run/docker.sock (ECONNREFUSED)')) }

/** Parses argv as the CLI does, without running a benchmark (help and bad values stop before). */
const parse = (argv: string[]) => runCli(argv, { cwd: base })

describe('bench load', () => {
  it('documents its flags and refuses bad values before starting anything', async () => {
    const help = await parse(['bench', 'load', '--help'])
    for (const f of ['--driver', '--sessions', '--duration-s', '--concurrency', '--pool-size', '--max-size', '--warmup', '--step-timeout-ms', '--note', '--out']) {
      expect(help.stdout).toContain(f)
    }
    expect((await parse(['bench', 'load', '--concurrency', '0'])).stderr).toMatch(/--concurrency must be an integer from 1 to 1024/)
    expect((await parse(['bench', 'load', '--sessions', 'many'])).stderr).toMatch(/--sessions must be an integer/)
    expect(existsSync(join(base, 'docs'))).toBe(false)
  })

  it('skips every driver that cannot run here with the reason, and writes nothing', async () => {
    const t = io()
    const r = await runBenchLoad({ ...flags, driver: 'local,docker' }, t.io, new AbortController().signal, noDaemon)
    expect(r.code).toBe(0)
    expect(r.skipped.map((s) => s.driver)).toEqual(['local', 'docker'])
    expect(t.stderr.text()).toContain('infra-lab bench load --driver local: skipped: the local driver needs root')
    expect(existsSync(join(base, 'out'))).toBe(false)
  })

  it.skipIf(localDriverSkipReason() !== undefined)('runs users end to end on the local driver and writes outcomes, steps, gateway figures and pool vs host', async () => {
    const t = io()
    const r = await runBenchLoad({ ...flags, note: 'a test run' }, t.io, new AbortController().signal)
    expect(r.code, t.stderr.text()).toBe(0)
    const json = JSON.parse(readFileSync(join(base, 'out', 'load-local.json'), 'utf8'))
    expect(json).toMatchObject({ benchmark: 'load', driver: 'local', note: 'a test run', partial: false, options: { sessions: 6, concurrency: 2, poolSize: 1, maxSize: 3, warmup: 2 } })
    expect(json.sessions).toMatchObject({ attempted: 6, warmupAttempted: 2, lost: 0 })
    expect(json.sessions.succeeded + json.sessions.warmupSucceeded + json.sessions.failures.reduce((n: number, f: { count: number }) => n + f.count, 0)).toBe(8)
    for (const step of ['create', 'firstByte', 'command', 'end', 'total']) {
      expect(json.stepsMs[step]).toMatchObject({ n: json.sessions.succeeded, warmup: 2 })
    }
    for (const at of ['beforeWarmup', 'start', 'end']) {
      expect(Object.keys(json.gateway[at]).sort()).toEqual(['externalMiB', 'fds', 'heapUsedMiB', 'rssMiB'])
    }
    expect(json.poolVsHost.samples).toBeGreaterThan(0)
    expect(json.poolVsHost.atRest).toMatchObject({ poolAfter: 1, host: 1 })
    expect(json.goals).toHaveLength(4)
    const md = readFileSync(join(base, 'out', 'load-local.md'), 'utf8')
    expect(md).toContain('| no lost session: each create succeeds end to end or gets a 503 with Retry-After | 0 lost of 8 | met |')
    expect(md).toContain('| command | `echo load-<n>` typed -> its output line | ')
    expect(md).toContain('Command: `npx infra-lab bench load --driver local --sessions 6 --concurrency 2 --pool-size 1 --max-size 3 --warmup 2')
    expect(t.stderr.text()).toContain('warm-up: 2 sessions')
  }, 300_000)
})
