import { once } from 'node:events'
import { constants } from 'node:os'
import type { InfraLab, Session } from '@infra-lab/sdk'
import { describeFailure, labFromFlags, type ClientFlags } from '../client-options.ts'
import { parseEnvFlags } from '../env-flags.ts'
import { parseNetworkFlags, type NetworkFlags } from '../network-flags.ts'
import type { CliIo, ExitCode } from '../../io.ts'

export interface ExecFlags extends ClientFlags, NetworkFlags {
  readonly session?: string
  readonly user?: string
  readonly pool?: string
  readonly keep?: boolean
  readonly env?: string[]
  readonly cwd?: string
  readonly timeout?: number
  readonly tty?: boolean
}

/** What `infra-lab exec` exits with when it, not the command, failed (as docker and podman do). */
export const EXEC_FAILED = 125

/**
 * `infra-lab exec (--session ID | --user U) -- CMD ARGS...`: runs argv in a session, its stdout
 * and stderr streamed here byte for byte as they arrive; exits with the command's status, 128+n
 * for a signal. With --user it creates a session for the run and ends it after (unless --keep).
 */
export async function execCommand(argv: readonly string[], flags: ExecFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  const fail = (msg: string, code: ExitCode = EXEC_FAILED) => {
    io.stderr.write(`infra-lab exec: ${msg}\n`)
    return code
  }
  if ((flags.session === undefined) === (flags.user === undefined)) return fail('pass exactly one of --session ID (an existing session) or --user NAME (a new one)', 2)
  if (flags.keep && !flags.user) return fail('--keep goes with --user (a session given with --session is never ended)', 2)
  if (flags.pool && !flags.user) return fail('--pool goes with --user', 2)
  if (argv.length === 0) return fail('no command: infra-lab exec --session ID -- CMD ARGS...', 2)
  const env = parseEnvFlags(flags.env)
  if (typeof env === 'string') return fail(env, 2)
  const network = parseNetworkFlags(flags)
  if (typeof network === 'string') return fail(network, 2)
  if (network && !flags.user) return fail('--egress, --allow and --deny go with --user (a new session); for a running one: infra-lab sessions network ID', 2)

  let lab: InfraLab
  let session: Session | undefined
  try {
    lab = labFromFlags(flags, io)
    session = flags.session !== undefined
      ? await lab.sessions.get(flags.session, { signal })
      : await lab.sessions.create({ user: flags.user!, ...(flags.pool ? { pool: flags.pool } : {}), ...(network ? { network } : {}) }, { signal })
    const result = await session.exec(argv, {
      ...(env ? { env } : {}),
      ...(flags.cwd !== undefined ? { cwd: flags.cwd } : {}),
      ...(flags.timeout !== undefined ? { timeoutS: flags.timeout } : {}),
      ...(flags.tty ? { tty: true } : {}),
      signal,
      // base64 keeps the bytes exact (output need not be UTF-8); a full pipe here slows the stream.
      encoding: 'base64',
      onStdout: (chunk) => write(io.stdout, chunk),
      onStderr: (chunk) => write(io.stderr, chunk),
    })
    if (result.timedOut) io.stderr.write(`infra-lab exec: timed out after ${flags.timeout ?? 60} s; everything the command started was killed\n`)
    if (result.exitCode !== null) return result.exitCode
    const n = result.signal ? constants.signals[result.signal as keyof typeof constants.signals] : undefined
    return n !== undefined ? 128 + n : fail(`the command ended without a status (signal ${result.signal ?? 'unknown'})`)
  } catch (err) {
    if (signal.aborted) return 130
    return fail(describeFailure(err))
  } finally {
    const created = flags.user !== undefined ? session : undefined
    if (created) {
      if (flags.keep) io.stderr.write(`infra-lab exec: session ${created.id} kept; end it with: infra-lab sessions kill ${created.id}\n`)
      else await created.end().catch((err: unknown) => io.stderr.write(`infra-lab exec: could not end session ${created.id}: ${describeFailure(err)}\n`))
    }
  }
}

async function write(stream: NodeJS.WritableStream, base64: string): Promise<void> {
  if (!stream.write(Buffer.from(base64, 'base64'))) await once(stream, 'drain')
}
