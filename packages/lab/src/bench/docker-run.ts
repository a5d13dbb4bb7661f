import { execFile } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { promisify } from 'node:util'
import type { StartupSample } from './startup.ts'
import type { Series } from './startup-series.ts'

const run = promisify(execFile)

/**
 * The reference a warm pool is measured against: a plain `docker run --rm --network none` of the
 * same sandbox image running `true`, timed from the command to its exit (no agent, no shell).
 */
export async function dockerRunSeries(image: string, samples: number, warmup: number, signal: AbortSignal): Promise<Series> {
  const kept: StartupSample[] = []
  let skipped = 0
  for (let i = 0; i < samples + warmup && !signal.aborted; i++) {
    const t0 = performance.now()
    await run('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'true', image])
    const totalMs = performance.now() - t0
    if (i < warmup) skipped++
    else kept.push({ totalMs, postMs: Number.NaN, openMs: Number.NaN, byteMs: Number.NaN, claimMs: Number.NaN, timings: {}, warm: false })
  }
  return { name: 'docker run (reference)', how: `\`docker run --rm --network none --entrypoint true ${image}\`, command to exit`, samples: kept, warmup: skipped, floor: [] }
}
