import { join, resolve } from 'node:path'
import { LabClient } from '../client/client.ts'
import type { CliIo, ExitCode } from '../io.ts'
import { findRepoRoot } from '../paths.ts'
import { startGatewayProcess, type GatewayProcess } from './gateway-process.ts'
import { machineInfo } from './machine.ts'
import { measureMemory, type MemoryResult } from './memory.ts'
import { barChart, formatMs, provenance, summaryRow, writeResult } from './report.ts'
import { measureStart, waitForReady, type StartupSample } from './startup.ts'
import { summarize, type Summary } from './stats.ts'

export interface BenchStartupFlags {
  readonly sessions: number
  readonly concurrency: number
  readonly url?: string
  readonly key?: string
  readonly driver: string
  readonly out: string
  readonly memorySandboxes: number
  readonly json?: boolean
}

interface Series {
  readonly name: string
  readonly how: string
  readonly samples: StartupSample[]
}

const WARMUP = 5

/** `infra-lab bench startup`: warm, burst and cold session starts, end to end. */
export async function benchStartupCommand(flags: BenchStartupFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  const poolSize = Math.max(4, flags.concurrency)
  let gw: GatewayProcess | undefined
  let client: LabClient
  try {
    if (flags.url) {
      const key = flags.key ?? io.env.INFRA_LAB_API_KEY
      if (!key) {
        io.stderr.write('infra-lab bench startup: --url needs --key or INFRA_LAB_API_KEY\n')
        return 2
      }
      client = new LabClient(flags.url, key)
    } else {
      log(`starting a gateway (driver ${flags.driver}, warm pool of ${poolSize}, cold pool of 0) …`)
      gw = await startGatewayProcess({
        cliPath: join(findRepoRoot(), 'packages/lab/dist/cli.mjs'),
        config: {
          driver: flags.driver,
          pools: [
            { name: 'default', policy: { kind: 'fixed', size: poolSize }, maxSize: poolSize + flags.concurrency + 4, maxConcurrentCreates: 4 },
            { name: 'cold', policy: { kind: 'fixed', size: 0 }, maxSize: 8 },
          ],
        },
      })
      client = new LabClient(gw.url, gw.apiKey)
    }
    const series: Series[] = []
    const target = flags.url ? (await client.pool('default')).status.target : poolSize
    let warmupDone = 0

    // Warm: before every claim wait until the pool is full again, so each claim finds a ready
    // sandbox and the refill of the previous one is not running during the measurement.
    const warm: StartupSample[] = []
    for (let i = 0; i < flags.sessions + WARMUP && !signal.aborted; i++) {
      await waitForReady(client, 'default', target)
      const s = await measureStart(client, 'default', `bench-${i % 16}`)
      if (i < WARMUP) warmupDone++
      else warm.push(s)
      if ((i + 1) % 25 === 0) log(`  warm: ${i + 1}/${flags.sessions + WARMUP}`)
    }
    series.push({ name: 'warm', how: `sequential; pool of ${target} full before each claim; ${warmupDone} warm-up starts excluded`, samples: warm })

    if (!flags.url && !signal.aborted) {
      const burst: StartupSample[] = []
      const rounds = Math.max(5, Math.ceil(60 / flags.concurrency))
      for (let r = 0; r < rounds && !signal.aborted; r++) {
        await waitForReady(client, 'default', target)
        const got = await Promise.all(Array.from({ length: flags.concurrency }, (_, k) => measureStart(client, 'default', `burst-${k}`)))
        burst.push(...got)
      }
      log(`  burst: ${rounds} rounds of ${flags.concurrency}`)
      series.push({ name: `burst x${flags.concurrency}`, how: `${flags.concurrency} claims at once against a full pool of ${target}, ${rounds} rounds`, samples: burst })

      const cold: StartupSample[] = []
      const coldN = Math.min(flags.sessions, 30)
      for (let i = 0; i < coldN && !signal.aborted; i++) cold.push(await measureStart(client, 'cold', `cold-${i}`))
      log(`  cold: ${coldN}`)
      series.push({ name: 'cold', how: 'pool of size 0: every claim starts a sandbox', samples: cold })
    }

    let memory: MemoryResult | undefined
    if (!flags.url && flags.driver === 'local' && flags.memorySandboxes > 0 && !signal.aborted) {
      log(`measuring memory over ${flags.memorySandboxes} warm sandboxes …`)
      memory = await measureMemory(flags.memorySandboxes, (k) => {
        if (k % 5 === 0) log(`  memory: ${k}/${flags.memorySandboxes}`)
      })
    }

    const results = series.map((s) => ({
      name: s.name, how: s.how,
      totalMs: summarize(s.samples.map((x) => x.totalMs)),
      claimMs: summarize(s.samples.map((x) => x.claimMs)),
      warmHits: s.samples.filter((x) => x.warm).length,
    }))
    const partial = signal.aborted
    const command = `npx infra-lab bench startup --sessions ${flags.sessions} --concurrency ${flags.concurrency}${flags.url ? ` --url ${flags.url}` : ''}`
    const machine = machineInfo()
    const json = { benchmark: 'startup', driver: flags.url ? 'remote' : flags.driver, partial, machine, date: new Date().toISOString(), command, results, memory }
    const md = renderMarkdown(results, memory, machine, command, partial)
    const outDir = resolve(io.cwd, flags.out)
    const files = writeResult(outDir, `startup-${flags.url ? 'remote' : flags.driver}`, md, json)
    if (flags.json) io.stdout.write(`${JSON.stringify(json)}\n`)
    else io.stdout.write(`${md}\nwritten: ${files.md}, ${files.json}\n`)
    return partial ? 130 : 0
  } catch (err) {
    io.stderr.write(`infra-lab bench startup: ${(err as Error).message}\n`)
    return 1
  } finally {
    await gw?.stop()
  }
}

function renderMarkdown(
  results: { name: string; how: string; totalMs: Summary; claimMs: Summary; warmHits: number }[],
  memory: MemoryResult | undefined,
  machine: ReturnType<typeof machineInfo>,
  command: string,
  partial: boolean,
): string {
  const warm = results.find((r) => r.name === 'warm')
  const cold = results.find((r) => r.name === 'cold')
  const lines = [
    '# Session start-up, end to end (local driver)',
    '',
    partial ? '**Partial run (interrupted): figures cover the samples taken before the interruption.**\n' : '',
    'Time from `POST /v1/sessions` to the first shell prompt byte on the terminal WebSocket, measured by a',
    'client in its own process against a gateway in its own process, over loopback. Milliseconds.',
    '',
    '| run | n | p50 | p95 | p99 | max | warm hits | gateway claim p50 | how |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.map((r) => summaryRow(r.name, r.totalMs, [`${r.warmHits}/${r.totalMs.n}`, formatMs(r.claimMs.p50), r.how])),
    '',
    '```',
    barChart(results.map((r) => ({ label: `${r.name} p50`, value: r.totalMs.p50 }))),
    '```',
    '',
  ]
  if (warm && cold) {
    lines.push(`Cold / warm, p50: **${(cold.totalMs.p50 / warm.totalMs.p50).toFixed(1)}x**; p99: ${(cold.totalMs.p99 / warm.totalMs.p99).toFixed(1)}x.`, '')
  }
  if (memory) {
    lines.push(
      '## Memory of a warm sandbox',
      '',
      `Marginal PSS per warm sandbox (agent + bash + bubblewrap, slope over ${memory.points.length} sandboxes): **${memory.slopeMb.toFixed(1)} MB** (intercept ${memory.interceptMb.toFixed(1)} MB, r² ${memory.r2.toFixed(3)}).`,
      `Total PSS at ${memory.points.length} sandboxes: ${memory.points[memory.points.length - 1]!.pssMb.toFixed(1)} MB.`,
      '',
    )
  }
  lines.push('## Provenance', '', provenance(machine, command), '')
  return lines.filter((l, i) => !(l === '' && lines[i - 1] === '')).join('\n')
}
