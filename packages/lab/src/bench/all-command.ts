import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { resolve } from 'node:path'
import cliProgress from 'cli-progress'
import type { CliIo, ExitCode } from '../io.ts'
import { runBenchApi } from './api-command.ts'
import { runBenchEgress } from './egress-command.ts'
import { runBenchExec } from './exec-command.ts'
import { runBenchFs } from './fs-command.ts'
import { machineInfo } from './machine.ts'
import { runBenchStartup } from './startup-command.ts'
import { writeSummary } from './summary.ts'

export interface BenchAllFlags {
  readonly out: string
  /** Benchmarks to leave out: fs, api, startup, exec, egress. */
  readonly skip: string[]
  readonly files: number
}

type Step = { name: string; run: () => Promise<{ code: ExitCode; notes?: string[] }> }

/** `infra-lab bench all`: every benchmark this machine can run, then docs/results/README.md. */
export async function benchAllCommand(flags: BenchAllFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  const quiet: CliIo = { ...io, stdout: io.stderr }
  const notes: string[] = []
  const fsTargets = [{ path: tmpdir(), name: undefined as string | undefined, label: 'local disk' }]
  if (existsSync('/dev/shm')) fsTargets.push({ path: '/dev/shm', name: 'tmpfs', label: 'tmpfs' })
  const steps: Step[] = []
  // Start-up first: the fs benchmarks leave seconds of disk writeback behind them.
  if (!flags.skip.includes('startup')) {
    // About 3 minutes per driver on 2 cores; a driver not available here is skipped and noted.
    steps.push({ name: 'startup local,docker', run: async () => {
      const r = await runBenchStartup({ driver: 'local,docker', sessions: 200, concurrency: 4, sweep: '1,4,16,64', sweepSamples: 64, drainedPool: 64, drainedRounds: 3, memorySandboxes: 24, out: flags.out }, quiet, signal)
      return { code: r.code, notes: r.skipped.map((x) => `bench startup --driver ${x.driver} ${x.outcome}: ${x.reason}`) }
    } })
  }
  if (!flags.skip.includes('exec')) {
    steps.push({ name: 'exec local', run: async () => {
      const r = await runBenchExec({ out: flags.out }, quiet, signal)
      return { code: r.code, notes: r.skipped ? [`bench exec skipped: ${r.skipped}`] : [] }
    } })
  }
  if (!flags.skip.includes('egress')) {
    steps.push({ name: 'egress local', run: async () => {
      const r = await runBenchEgress({ out: flags.out }, quiet, signal)
      return { code: r.code, notes: r.skipped ? [`bench egress skipped: ${r.skipped}`] : [] }
    } })
  }
  if (!flags.skip.includes('fs')) {
    for (const t of fsTargets) {
      steps.push({ name: `fs ${t.label}`, run: async () => {
        const r = await runBenchFs({ path: t.path, ops: 'mkdir,create,write,stat,readdir,rename,unlink,rmdir', files: flags.files, concurrency: '1,4,16', warmup: 50, rounds: 3, native: true, fio: true, out: flags.out, ...(t.name ? { name: t.name } : {}) }, quiet, signal)
        return { code: r.code }
      } })
    }
  }
  if (!flags.skip.includes('api')) {
    for (const driver of ['local', 'docker', 'ecs']) {
      steps.push({ name: `api ${driver}`, run: async () => {
        const r = await runBenchApi({ driver, calls: 30, concurrency: 1, warmup: 2, out: flags.out }, quiet, signal)
        return { code: r.code, notes: r.skipped ? [`bench api --driver ${driver} skipped: ${r.skipped}`] : [] }
      } })
    }
  }
  const bar = new cliProgress.SingleBar({ format: 'bench all [{bar}] {value}/{total} {step}', stream: io.stderr, hideCursor: false, clearOnComplete: false }, cliProgress.Presets.shades_classic)
  bar.start(steps.length, 0, { step: '' })
  let worst: ExitCode = 0
  for (const s of steps) {
    if (signal.aborted) {
      notes.push(`${s.name}: not run (interrupted)`)
      continue
    }
    bar.update({ step: s.name })
    await settle()
    const r = await s.run()
    notes.push(...(r.notes ?? []))
    if (r.code !== 0) notes.push(`${s.name}: exit code ${r.code}${r.code === 130 ? ' (interrupted, partial results)' : ''}`)
    worst = Math.max(worst, r.code)
    bar.increment()
  }
  bar.stop()
  const command = `npx infra-lab bench all --out ${flags.out}${flags.skip.length ? ` --skip ${flags.skip.join(',')}` : ''} --files ${flags.files}`
  const readme = writeSummary(resolve(io.cwd, flags.out), machineInfo(), command, notes)
  io.stdout.write(`written: ${readme}\n`)
  return signal.aborted ? 130 : worst
}

/** Flushes dirty pages and waits a moment, so one benchmark's writeback does not land in the next. */
async function settle(): Promise<void> {
  try {
    execFileSync('sync')
  } catch {
    // no sync here: the pause alone
  }
  await new Promise((r) => setTimeout(r, 2000))
}
