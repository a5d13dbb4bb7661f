import type { Session, Terminal } from '@infra-lab/sdk'
import { describeFailure, labFromFlags, type ClientFlags } from '../client-options.ts'
import { parseEnvFlags } from '../env-flags.ts'
import { parseNetworkFlags, type NetworkFlags } from '../network-flags.ts'
import type { CliIo, ExitCode } from '../../io.ts'

export interface ShellFlags extends ClientFlags, NetworkFlags {
  readonly user?: string
  readonly pool?: string
  readonly attach?: string
  readonly env?: string[]
}

export interface TerminalIo extends CliIo {
  readonly stdin: NodeJS.ReadStream
  readonly stdoutTty: NodeJS.WriteStream
}

/** `infra-lab shell`: creates (or re-attaches) a session and attaches this terminal, like ssh. */
export async function shellCommand(flags: ShellFlags, io: TerminalIo): Promise<ExitCode> {
  const env = parseEnvFlags(flags.env)
  if (typeof env === 'string') {
    io.stderr.write(`infra-lab shell: ${env}\n`)
    return 2
  }
  const network = parseNetworkFlags(flags)
  if (typeof network === 'string') {
    io.stderr.write(`infra-lab shell: ${network}\n`)
    return 2
  }
  const out = io.stdoutTty
  let session: Session
  let term: Terminal
  try {
    const lab = labFromFlags(flags, io)
    if (flags.attach) session = await lab.sessions.get(flags.attach)
    else {
      const user = flags.user ?? io.env.USER ?? 'user'
      session = await lab.sessions.create({ user, ...(flags.pool ? { pool: flags.pool } : {}), ...(env ? { env } : {}), ...(network ? { network } : {}) })
      io.stderr.write(`session ${session.id} (${session.info.warm ? 'warm' : 'cold'}, claimed in ${session.info.timings.claimMs} ms); re-attach with: infra-lab shell --attach ${session.id}\r\n`)
    }
    term = await session.terminal(out.columns && out.rows ? { cols: out.columns, rows: out.rows } : {})
  } catch (err) {
    io.stderr.write(`infra-lab shell: ${describeFailure(err)}\n`)
    return 1
  }

  const stdin = io.stdin
  const raw = stdin.isTTY === true
  return new Promise<ExitCode>((resolve) => {
    const sendSize = () => {
      if (out.columns && out.rows) term.resize(out.columns, out.rows)
    }
    const onInput = (d: Buffer) => term.write(d)
    if (raw) stdin.setRawMode(true)
    stdin.resume()
    stdin.on('data', onInput)
    out.on('resize', sendSize)
    term.onData((bytes) => out.write(bytes))
    term.onError((e) => io.stderr.write(`\r\ninfra-lab shell: ${e.message}\r\n`))
    term.onExpiring((e) => io.stderr.write(`\r\ninfra-lab shell: session ${session.id} ends in ${e.inS} s (${e.reason})\r\n`))
    term.onClose(({ code }) => {
      stdin.off('data', onInput)
      out.off('resize', sendSize)
      if (raw) stdin.setRawMode(false)
      stdin.pause()
      const exit = term.exit
      if (exit && exit.reason !== 'exited') io.stderr.write(`\r\nsession ${session.id} ended: ${exit.reason}\r\n`)
      else if (!exit) io.stderr.write(`\r\nconnection to the gateway closed (${code}); the shell may still run: infra-lab shell --attach ${session.id}\r\n`)
      resolve(exit ? (exit.code ?? (exit.reason === 'exited' ? 0 : 255)) : 255)
    })
  })
}
