import { readFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'

/** The machine a result was measured on: stated in every results file. */
export interface MachineInfo {
  readonly cpuModel: string
  readonly cores: number
  readonly memoryGiB: number
  readonly kernel: string
  readonly node: string
}

export function machineInfo(): MachineInfo {
  let kernel = release()
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()
  } catch {
    // not Linux: os.release() is fine
  }
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel,
    node: process.version,
  }
}

export function machineLine(m: MachineInfo): string {
  return `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}`
}
