import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runBenchFs, type BenchFsFlags } from '../src/bench/fs-command.ts'
import { parseLevels, parseOps } from '../src/bench/fs-ops.ts'
import { prepareTarget } from '../src/bench/fs-target.ts'

function sink(onWrite: (s: string) => void = () => undefined) {
  let text = ''
  const stream = new Writable({ write(chunk, _enc, cb) { text += String(chunk); onWrite(String(chunk)); cb() } })
  return { stream, text: () => text }
}

let base: string
let target: string
let out: string
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'bench-fs-test-'))
  target = join(base, 'target')
  out = join(base, 'out')
  mkdirSync(target)
})
afterEach(() => rmSync(base, { recursive: true, force: true }))

const flags = (o: Partial<BenchFsFlags> = {}): BenchFsFlags => ({
  path: target, ops: 'mkdir,create,write,stat,readdir,rename,unlink,rmdir', files: 50, concurrency: '1,2', warmup: 5, rounds: 1, native: false, fio: false, out, ...o,
})

function run(f: BenchFsFlags, signal = new AbortController().signal, onStderr?: (s: string) => void) {
  const stdout = sink()
  const stderr = sink(onStderr)
  const io = { cwd: base, env: {}, stdout: stdout.stream, stderr: stderr.stream }
  return runBenchFs(f, io, signal).then((r) => ({ ...r, stdout: stdout.text(), stderr: stderr.text() }))
}

describe('bench fs', () => {
  it('measures every operation at every level and writes markdown, JSON and SVG', async () => {
    const r = await run(flags())
    expect(r.code).toBe(0)
    const json = JSON.parse(readFileSync(join(out, `fs-${r.result!.fsType}.json`), 'utf8'))
    expect(json).toMatchObject({ benchmark: 'fs', partial: false, command: expect.stringContaining('bench fs --path'), machine: { cores: expect.any(Number), node: process.version } })
    expect(json.results).toHaveLength(16)
    for (const x of json.results) {
      expect(x.opsPerS).toBeGreaterThan(0)
      expect(x.latencyUs.n).toBe(x.op === 'readdir' ? x.concurrency * 5 : x.concurrency * 45)
      expect(x.latencyUs.warmup).toBe(x.op === 'readdir' ? 0 : x.concurrency * 5)
      expect(x.latencyUs.p50).toBeLessThanOrEqual(x.latencyUs.p99)
    }
    const md = readFileSync(join(out, `fs-${r.result!.fsType}.md`), 'utf8')
    expect(md).toContain('| op | workers | ops/s | vs native | vs fio | n | warm-up | p50 |')
    expect(md).toMatch(/- Machine: .*cores.*Node v/)
    expect(md).toContain('- Command: `npx infra-lab bench fs')
    expect(readFileSync(join(out, `fs-${r.result!.fsType}-ops.svg`), 'utf8')).toMatch(/^<svg/)
    expect(readdirSync(target)).toEqual([])
  })

  it('compares create and unlink with the native loop when a compiler is present', async () => {
    const r = await run(flags({ ops: 'create,unlink', concurrency: '1', native: true }))
    expect(r.code).toBe(0)
    const native = r.result!.native
    if ('skipped' in native) {
      expect(native.skipped).toMatch(/compiler/)
      return
    }
    expect(native.rates.map((x) => x.op)).toEqual(['mkdir', 'create', 'write', 'stat', 'readdir', 'rename', 'unlink', 'rmdir'])
    expect(r.result!.ratios.find((x) => x.op === 'create')!.vsNative).toBeGreaterThan(0)
    expect(r.stdout).toMatch(/create .* ops\/s = \d+\.\d\dx native/)
    expect(readdirSync(target)).toEqual([])
  })

  it('keeps partial results, marks them and removes its files when interrupted', async () => {
    const ac = new AbortController()
    const r = await run(flags({ files: 50_000, concurrency: '1', ops: 'create,unlink' }), ac.signal, (s) => {
      if (s.includes('node c=1')) setTimeout(() => ac.abort(), 40)
    })
    expect(r.code).toBe(130)
    expect(r.result!.partial).toBe(true)
    expect(r.result!.stoppedBy).toBe('interrupted')
    const json = JSON.parse(readFileSync(join(out, `fs-${r.result!.fsType}.json`), 'utf8'))
    expect(json.partial).toBe(true)
    expect(readFileSync(join(out, `fs-${r.result!.fsType}.md`), 'utf8')).toContain('Partial run (interrupted)')
    expect(readdirSync(target)).toEqual([])
  })

  it('says clearly that the path is missing, and writes nothing', async () => {
    const r = await run(flags({ path: join(base, 'nope') }))
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--path .*nope does not exist/)
    expect(existsSync(out)).toBe(false)
  })

  it('says clearly that the path is not writable', async () => {
    const r = await run(flags({ path: '/sys' }))
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--path \/sys is not writable/)
  })

  it('refuses a file system without room for the run', () => {
    expect(() => prepareTarget(target, Number.MAX_SAFE_INTEGER)).toThrow(/MiB free, the benchmark needs about .* lower --files/)
    expect(readdirSync(target)).toEqual([])
  })

  it('rejects unknown operations and bad levels', async () => {
    expect(() => parseOps('create,chmod')).toThrow(/unknown operation\(s\) chmod/)
    expect(parseOps('unlink,create')).toEqual(['create', 'unlink'])
    expect(() => parseLevels('1,0')).toThrow(/--concurrency/)
    const r = await run(flags({ ops: 'bogus' }))
    expect(r.code).toBe(2)
  })
})
