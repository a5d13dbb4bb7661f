// `infra-lab bench startup-ab --base DIR`: is a change free on the warm path? Runs `bench startup`'s
// warm run of this checkout (head) and of another built checkout (base) in turn, round after
// round (ABBA order, so drift of the machine falls on both), and compares each side's warm start
// as a ratio to the transport floor measured in the same run, which cancels most of what the
// machine's speed does to absolute times.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { CliIo, ExitCode } from '../io.ts'
import { findRepoRoot } from '../paths.ts'
import { machineInfo, machineLine, type MachineInfo } from './machine.ts'
import { bootstrapRatioCi, median } from './ratio-ci.ts'
import { writeResult } from './report.ts'

export interface BenchStartupAbFlags {
  readonly base: string
  readonly rounds?: number
  readonly sessions?: number
  readonly out: string
  readonly note?: string
  readonly json?: boolean
}

type Side = 'base' | 'head'

/** One warm run of one side: medians of POST-to-first-byte and of the floor, in ms. */
export interface AbRun {
  readonly side: Side
  readonly round: number
  readonly warmP50Ms: number
  readonly floorP50Ms: number
  readonly claimP50Ms: number
  /** warm / floor */
  readonly ratio: number
}

export interface StartupAbReport {
  readonly benchmark: 'startup-ab'
  readonly machine: MachineInfo
  readonly date: string
  readonly command: string
  readonly note?: string
  readonly load: { readonly atStart: number; readonly atEnd: number }
  readonly base: { readonly dir: string; readonly commit?: string }
  readonly head: { readonly dir: string; readonly commit?: string }
  readonly sessions: number
  readonly runs: readonly AbRun[]
  /** median(head ratios) / median(base ratios) */
  readonly headOverBase: number
  readonly interval: readonly [number, number]
  /** The same figure between the base's own even and odd rounds: what noise alone gives. */
  readonly baseSplit: number
  readonly withinNoise: boolean
}

const DEFAULTS = { rounds: 6, sessions: 100 }

export async function benchStartupAbCommand(flags: BenchStartupAbFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const rounds = flags.rounds ?? DEFAULTS.rounds
  const sessions = flags.sessions ?? DEFAULTS.sessions
  const headDir = findRepoRoot()
  const baseDir = resolve(io.cwd, flags.base)
  const cli = (dir: string) => join(dir, 'packages/lab/dist/cli.mjs')
  if (!existsSync(cli(baseDir))) {
    log(`infra-lab bench startup-ab: ${cli(baseDir)} is missing: --base is a built checkout (run \`npm ci\` there, which builds it)`)
    return 2
  }
  if (rounds < 2) {
    log('infra-lab bench startup-ab: --rounds must be at least 2 (the noise figure compares two halves of the base)')
    return 2
  }
  const atStart = loadavg()[0]!
  const command = `npx infra-lab bench startup-ab --base ${flags.base} --rounds ${rounds} --sessions ${sessions}`
  log(`infra-lab bench startup-ab: ${rounds} rounds of ${sessions} warm starts per side, base ${baseDir} and head ${headDir} in ABBA order …`)
  const runs: AbRun[] = []
  const scratch = mkdtempSync(join(tmpdir(), 'infra-lab-ab-'))
  try {
    for (let round = 0; round < rounds; round++) {
      const order: Side[] = round % 2 === 0 ? ['base', 'head'] : ['head', 'base']
      for (const side of order) {
        if (signal.aborted) return 130
        const dir = side === 'base' ? baseDir : headDir
        const run = await warmRun(cli(dir), dir, sessions, join(scratch, `${side}-${round}`), signal)
        runs.push({ side, round, ...run })
        log(`  round ${round + 1}/${rounds} ${side}: warm p50 ${run.warmP50Ms} ms, floor p50 ${run.floorP50Ms} ms, ratio ${run.ratio}`)
      }
    }
  } catch (err) {
    log(`infra-lab bench startup-ab: ${(err as Error).message}`)
    return signal.aborted ? 130 : 1
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  const report = summarize(runs, {
    machine: machineInfo(), date: new Date().toISOString(), command, sessions,
    load: { atStart: round2(atStart), atEnd: round2(loadavg()[0]!) },
    base: { dir: baseDir, ...commitOf(baseDir) }, head: { dir: headDir, ...commitOf(headDir) },
    ...(flags.note ? { note: flags.note } : {}),
  })
  const files = writeResult(resolve(io.cwd, flags.out), 'startup-ab', renderStartupAb(report), report)
  io.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : `${renderStartupAb(report)}\nwritten: ${files.md}, ${files.json}\n`)
  return 0
}

type Context = Omit<StartupAbReport, 'benchmark' | 'runs' | 'headOverBase' | 'interval' | 'baseSplit' | 'withinNoise'>

export function summarize(runs: readonly AbRun[], ctx: Context): StartupAbReport {
  const ratios = (side: Side) => runs.filter((r) => r.side === side).map((r) => r.ratio)
  const base = ratios('base')
  const head = ratios('head')
  const headOverBase = median(head) / median(base)
  const interval = bootstrapRatioCi(head, base)
  const baseSplit = median(base.filter((_, i) => i % 2 === 0)) / median(base.filter((_, i) => i % 2 === 1))
  const withinNoise = (interval[0] <= 1 && 1 <= interval[1]) || Math.abs(headOverBase - 1) <= Math.abs(baseSplit - 1)
  return {
    benchmark: 'startup-ab', ...ctx, runs, headOverBase: round3(headOverBase),
    interval: [round3(interval[0]), round3(interval[1])], baseSplit: round3(baseSplit), withinNoise,
  }
}

export function renderStartupAb(r: StartupAbReport): string {
  const side = (s: Side) => r.runs.filter((x) => x.side === s)
  const med = (s: Side, f: (x: AbRun) => number) => round2(median(side(s).map(f)))
  return [
    '# Warm start: head against base (interleaved A/B)',
    '',
    `${machineLine(r.machine)}; ${r.date}; load ${r.load.atStart} -> ${r.load.atEnd}`,
    `Command: \`${r.command}\``,
    ...(r.note ? ['', r.note] : []),
    '',
    `base: ${r.base.commit ?? '?'} (${r.base.dir}); head: ${r.head.commit ?? '?'} (${r.head.dir}). Each round runs \`bench startup\`'s warm run `
    + `(${r.sessions} sequential starts from a full pool, POST /v1/sessions to the first terminal byte) on both, in ABBA order; `
    + 'each run is read as its median over the transport floor measured in the same run.',
    '',
    '| side | runs | warm p50 (median of runs) | floor p50 | warm / floor | gateway claimMs p50 |',
    '|---|---|---|---|---|---|',
    ...(['base', 'head'] as const).map((s) => `| ${s} | ${side(s).length} | ${med(s, (x) => x.warmP50Ms)} ms | ${med(s, (x) => x.floorP50Ms)} ms | ${med(s, (x) => x.ratio)} | ${med(s, (x) => x.claimP50Ms)} ms |`),
    '',
    `head / base (medians of warm / floor): **${r.headOverBase}x** (95 % bootstrap interval ${r.interval[0]}-${r.interval[1]}); `
    + `the base's own even and odd rounds differ by ${r.baseSplit}x. Within noise: **${r.withinNoise ? 'yes' : 'no'}**.`,
    '',
  ].join('\n')
}

/** One `bench startup` warm run of a checkout, read from its --json. */
async function warmRun(cliPath: string, cwd: string, sessions: number, out: string, signal: AbortSignal): Promise<Omit<AbRun, 'side' | 'round'>> {
  const args = [cliPath, 'bench', 'startup', '--driver', 'local', '--sessions', String(sessions), '--sweep', 'none', '--drained-pool', '0', '--memory-sandboxes', '0', '--json', '--out', out]
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(process.execPath, args, { cwd, signal, stdio: ['ignore', 'pipe', 'pipe'] })
    let so = ''
    let se = ''
    child.stdout.on('data', (d: Buffer) => { if (so.length < 8 << 20) so += d.toString() })
    child.stderr.on('data', (d: Buffer) => { se = (se + d.toString()).slice(-4000) })
    child.on('error', fail)
    child.on('close', (c) => done({ code: c, stdout: so, stderr: se }))
  })
  if (code !== 0) throw new Error(`${cliPath} bench startup exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`)
  const report = JSON.parse(stdout) as { results?: Array<{ name: string; totalMs?: { p50: number }; floorMs?: { p50: number }; claimMs?: { p50: number } }>; skipped?: unknown[] }
  const warm = report.results?.find((r) => r.name === 'warm')
  if (!warm?.totalMs || !warm.floorMs || !warm.claimMs) throw new Error(`${cliPath} bench startup gave no warm run (skipped: ${JSON.stringify(report.skipped ?? [])})`)
  return { warmP50Ms: warm.totalMs.p50, floorP50Ms: warm.floorMs.p50, claimP50Ms: warm.claimMs.p50, ratio: round3(warm.totalMs.p50 / warm.floorMs.p50) }
}

function commitOf(dir: string): { commit?: string } {
  try {
    return { commit: execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() }
  } catch {
    return {}
  }
}

const round2 = (v: number) => Math.round(v * 100) / 100
const round3 = (v: number) => Math.round(v * 1000) / 1000
