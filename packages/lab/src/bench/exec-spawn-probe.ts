import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { agentBundleDir } from '../paths.ts'
import type { LatencyStats } from './histogram.ts'
import { answerJson, type BenchHttp } from './exec-http.ts'
import { msStats } from './startup-report.ts'

/**
 * What an exec costs below the gateway, measured the way the agent runs a command: a node
 * process spawning `true` directly, and spawning the exec helper (`lab-exec -- true`, with the
 * agent's pipes and control socket, to `close`). Run once in the sandbox (through an exec) and
 * once on the host (a node child of the benchmark), the two show what the sandbox adds to a
 * spawn and what the helper adds to the agent's.
 */
const SCRIPT = `
const { spawn } = require('node:child_process')
const { performance } = require('node:perf_hooks')
const [helper, n] = [process.argv[1], Number(process.argv[2])]
const run = (cmd, args, stdio) => new Promise((resolve, reject) => {
  const t0 = performance.now()
  const c = spawn(cmd, args, { stdio })
  c.on('error', reject)
  c.on('close', (code) => code === 0 ? resolve(performance.now() - t0) : reject(new Error(cmd + ' exited with ' + code)))
})
const helperArgs = ['-g', '2000', '-d', '/', '--', 'true']
const out = { trueMs: [], helperMs: [] }
;(async () => {
  for (let i = 0; i < n + 5; i++) {
    const a = await run('true', [], 'ignore')
    const b = await run(helper, helperArgs, ['ignore', 'pipe', 'pipe', 'pipe'])
    if (i >= 5) { out.trueMs.push(a); out.helperMs.push(b) }
  }
  process.stdout.write(JSON.stringify(out))
})().catch((e) => { process.stderr.write(String(e)); process.exit(1) })
`

export interface SpawnProbe {
  readonly where: 'sandbox' | 'host'
  /** node spawn('true') to close. */
  readonly trueMs: LatencyStats
  /** node spawn('lab-exec -- true') to close: the agent's way of running a command. */
  readonly helperMs: LatencyStats
}

const WARMUP = 5

function probe(where: SpawnProbe['where'], stdout: string): SpawnProbe {
  const r = JSON.parse(stdout) as { trueMs: number[]; helperMs: number[] }
  return { where, trueMs: msStats(r.trueMs, WARMUP), helperMs: msStats(r.helperMs, WARMUP) }
}

/** In the session's sandbox, as its user, with the helper beside the agent (`agentDir`). */
export async function probeSandbox(client: BenchHttp, sessionId: string, agentDir: string, n: number): Promise<SpawnProbe> {
  const body = { cmd: ['node', '-e', SCRIPT, join(agentDir, 'lab-exec'), String(n)], timeoutS: 600 }
  const r = answerJson<{ exitCode: number | null; stdout: string; stderr: string }>(await client.json('POST', `/v1/sessions/${sessionId}/exec`, body), 200, 'the spawn probe in the sandbox')
  if (r.exitCode !== 0) throw new Error(`the spawn probe in the sandbox exited with ${r.exitCode}: ${r.stderr.slice(0, 300)}`)
  return probe('sandbox', r.stdout)
}

/** On the host, in a node process of its own (as in the sandbox), with the helper this checkout built. */
export async function probeHost(n: number): Promise<SpawnProbe> {
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', SCRIPT, join(agentBundleDir(), 'lab-exec'), String(n)], { maxBuffer: 64 * 2 ** 20 })
  return probe('host', stdout)
}
