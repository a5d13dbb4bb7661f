import { join, resolve } from 'node:path'
import type { CliIo, ExitCode } from '../io.ts'
import { findRepoRoot } from '../paths.ts'
import { realProbeEnv, startupDriverUnavailable, type ProbeEnv } from './driver-probe.ts'
import { fidelityPlan, makeTrace, measuredArrivals, plannedS, runCell, type FidelityCell, type FidelityDriver } from './fidelity.ts'
import { FIDELITY_FILES, writeFidelity } from './fidelity-write.ts'
import { startGatewayProcess } from './gateway-process.ts'
import { machineInfo } from './machine.ts'

export interface FidelityFlags {
  readonly quick?: boolean
  readonly speed?: number
  readonly driver: FidelityDriver
  readonly out: string
}

/** `infra-lab fidelity`: each trace x policy replayed through a gateway and predicted by the simulator; fidelity.md. */
export async function fidelityCommand(flags: FidelityFlags, io: CliIo, signal: AbortSignal, probe: ProbeEnv = realProbeEnv(io.env)): Promise<ExitCode> {
  const log = (s: string) => io.stderr.write(`${s}\n`)
  if (flags.driver !== 'fake') {
    const why = await startupDriverUnavailable(flags.driver, probe)
    if (why) { log(`infra-lab fidelity --driver ${flags.driver}: ${why}`); return 1 }
  }
  const quick = flags.quick ?? false
  const plan = fidelityPlan(quick, flags.speed)
  const traces = plan.traces.map((t) => makeTrace(plan, t))
  const policies = Object.keys(plan.policies)
  const planned = plannedS(plan, traces)
  log(`infra-lab fidelity: ${traces.length} traces (${traces.map((t, k) => `${plan.traces[k]!.name} ${measuredArrivals(plan, t)}`).join(', ')} measured arrivals) x ${policies.length} policies (${policies.join(', ')}; ${plan.withHistory.join(', ')} after a compressed day of history) on the ${flags.driver} driver at speed ${plan.speed}; planned ${(planned / 60).toFixed(1)} min`)
  const command = `npx infra-lab fidelity${quick ? ' --quick' : ''}${flags.speed !== undefined ? ` --speed ${flags.speed}` : ''} --driver ${flags.driver} --out ${flags.out}`
  const cliPath = join(findRepoRoot(), 'packages/lab/dist/cli.mjs')
  const deps = { startGateway: (config: object) => startGatewayProcess({ cliPath, config }), log, signal }
  const cells: FidelityCell[] = []
  const t0 = performance.now()
  try {
    for (const policy of policies) {
      for (let k = 0; k < traces.length; k++) {
        if (signal.aborted) break
        const t = plan.traces[k]!
        log(`fidelity: ${t.name} x ${policy} (${cells.length + 1}/${traces.length * policies.length}, ${((performance.now() - t0) / 60_000).toFixed(1)} of ${(planned / 60).toFixed(1)} min planned)`)
        cells.push(await runCell(plan, flags.driver, t, traces[k]!, policy, deps))
      }
    }
  } catch (err) {
    log(`infra-lab fidelity: ${(err as Error).message}`)
    return 1
  }
  if (signal.aborted) return 130
  const wallS = (performance.now() - t0) / 1000
  const md = await writeFidelity(resolve(io.cwd, flags.out), { plan, cells, driver: flags.driver, quick, machine: machineInfo(), date: new Date().toISOString(), command, wallS })
  io.stdout.write(`${md}\nwritten: ${FIDELITY_FILES.map((x) => join(resolve(io.cwd, flags.out), x)).join(', ')}\n`)
  return 0
}
