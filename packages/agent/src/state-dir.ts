import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { shellQuote } from './claim-script.ts'

/**
 * File descriptors the warm shell holds for a claim that drops to the user's uid: the pipe the
 * user's part of the claim arrives on, and the user shell's rc file. Both are opened by the
 * warm shell (as root) and inherited across the drop, so the user's shell reads them without
 * any path of the agent's private state dir being open to it.
 */
export const USER_CLAIM_FD = 3
export const USER_RC_FD = 4

export interface StateFiles {
  /** The warm shell's rc file: its only job is to source the FIFO. */
  readonly rcPath: string
  /** Where the claim script arrives: a pipe, so nothing of it ever touches a disk. */
  readonly fifoPath: string
  /** A second FIFO no shell reads, for warming up the claim path's I/O; removed after use. */
  readonly scratchFifoPath: string
  /**
   * With a drop to the user's uid: the FIFO carrying the user's part of the claim (env, secrets,
   * identity), read only by the user's shell on USER_CLAIM_FD; the warm shell opens it first.
   */
  readonly userFifoPath?: string
}

/**
 * Creates the agent's private state dir with the rc file and the claim FIFO. Runs once at
 * start-up (warm time), so running `mkfifo` here is fine: Node has no mkfifo of its own.
 * `dropsToUser`: the warm shell runs as root and the claim ends in a drop (user-workspace.ts).
 */
export function prepareStateDir(stateDir: string, dropsToUser = false): StateFiles {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 })
  chmodSync(stateDir, 0o700)
  const rcPath = join(stateDir, 'rc.bash')
  const fifoPath = join(stateDir, 'claim.fifo')
  const scratchFifoPath = join(stateDir, 'scratch.fifo')
  const userFifoPath = join(stateDir, 'user.fifo')
  const userRcPath = join(stateDir, 'user-rc.bash')
  const fifos = dropsToUser ? [fifoPath, scratchFifoPath, userFifoPath] : [fifoPath, scratchFifoPath]
  for (const f of [...fifos, userRcPath]) rmSync(f, { force: true })
  // bash blocks opening the FIFO until the claim, then sources the claim script it carries.
  let rc = `. ${shellQuote(fifoPath)}\n`
  if (dropsToUser) {
    // The user's shell reads its part of the claim from the inherited pipe with builtins only
    // (`read -N` reads a pipe in large chunks), closes both descriptors, then runs it.
    writeFileSync(userRcPath, [
      `IFS= read -r -N 16777216 -u ${USER_CLAIM_FD} __claim`,
      `exec ${USER_CLAIM_FD}<&- ${USER_RC_FD}<&-`,
      'eval "$__claim"',
      'unset __claim',
      '',
    ].join('\n'), { mode: 0o644 })
    chmodSync(userRcPath, 0o644) // the user's shell reopens it through /dev/fd: world-readable, nothing secret in it
    rc = `exec ${USER_CLAIM_FD}< ${shellQuote(userFifoPath)} ${USER_RC_FD}< ${shellQuote(userRcPath)}\n${rc}`
  }
  writeFileSync(rcPath, rc, { mode: 0o600 })
  execFileSync('/usr/bin/mkfifo', ['-m', '600', '--', ...fifos], { stdio: ['ignore', 'ignore', 'pipe'] })
  return { rcPath, fifoPath, scratchFifoPath, ...(dropsToUser ? { userFifoPath } : {}) }
}
