import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { shellQuote } from './claim-script.ts'

export interface StateFiles {
  /** The warm shell's rc file: its only job is to source the FIFO. */
  readonly rcPath: string
  /** Where the claim script arrives: a pipe, so nothing of it ever touches a disk. */
  readonly fifoPath: string
  /** A second FIFO no shell reads, for warming up the claim path's I/O; removed after use. */
  readonly scratchFifoPath: string
}

/**
 * Creates the agent's private state dir with the rc file and the claim FIFO. Runs once at
 * start-up (warm time), so running `mkfifo` here is fine: Node has no mkfifo of its own.
 */
export function prepareStateDir(stateDir: string): StateFiles {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  const rcPath = join(stateDir, 'rc.bash')
  const fifoPath = join(stateDir, 'claim.fifo')
  // bash blocks opening the FIFO until the claim, then sources the claim script it carries.
  writeFileSync(rcPath, `. ${shellQuote(fifoPath)}\n`, { mode: 0o600 })
  const scratchFifoPath = join(stateDir, 'scratch.fifo')
  rmSync(fifoPath, { force: true })
  rmSync(scratchFifoPath, { force: true })
  execFileSync('mkfifo', ['-m', '600', '--', fifoPath, scratchFifoPath], { stdio: ['ignore', 'ignore', 'pipe'] })
  return { rcPath, fifoPath, scratchFifoPath }
}
