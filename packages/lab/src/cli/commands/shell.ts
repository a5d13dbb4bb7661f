import { ApiRequestError, type Attach } from '../../client/client.ts'
import { clientFromFlags, type ClientFlags } from '../client-options.ts'
import type { CliIo, ExitCode } from '../../io.ts'

export interface ShellFlags extends ClientFlags {
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
  const client = clientFromFlags(flags, io)
  const env: Record<string, string> = {}
  for (const kv of flags.env ?? []) {
    const i = kv.indexOf('=')
    if (i <= 0) {
      io.stderr.write(`infra-lab shell: --env expects NAME=VALUE, got "${kv}"\n`)
      return 2
    }
    env[kv.slice(0, i)] = kv.slice(i + 1)
  }
  let attach: Attach
  let sessionId: string
  try {
    if (flags.attach) {
      sessionId = flags.attach
      attach = await client.attach(sessionId)
    } else {
      const user = flags.user ?? io.env.USER ?? 'user'
      const s = await client.createSession({ user, ...(flags.pool ? { pool: flags.pool } : {}), ...(Object.keys(env).length ? { env } : {}) })
      sessionId = s.id
      attach = s.attach
      io.stderr.write(`session ${s.id} (${s.warm ? 'warm' : 'cold'}, claimed in ${s.timings.claimMs} ms); re-attach with: infra-lab shell --attach ${s.id}\r\n`)
    }
  } catch (err) {
    const e = err as ApiRequestError
    io.stderr.write(`infra-lab shell: ${e.message}${e.retryAfterS ? ` (retry after ${e.retryAfterS} s)` : ''}\n`)
    return 1
  }

  const ws = client.openTerminal(attach)
  const stdin = io.stdin
  const out = io.stdoutTty
  const raw = stdin.isTTY === true
  return new Promise<ExitCode>((resolve) => {
    let exitCode: ExitCode = 255
    let exitReason = ''
    const sendSize = () => {
      if (out.columns && out.rows && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'resize', cols: out.columns, rows: out.rows }))
    }
    const onInput = (d: Buffer) => {
      if (ws.readyState === ws.OPEN) ws.send(d, { binary: true })
    }
    const restore = () => {
      stdin.off('data', onInput)
      out.off('resize', sendSize)
      if (raw) stdin.setRawMode(false)
      stdin.pause()
    }
    ws.on('open', () => {
      if (raw) stdin.setRawMode(true)
      stdin.resume()
      stdin.on('data', onInput)
      out.on('resize', sendSize)
      sendSize()
    })
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        out.write(data)
        return
      }
      try {
        const m = JSON.parse(data.toString('utf8')) as { type: string; code?: number | null; reason?: string; message?: string }
        if (m.type === 'exit') {
          exitReason = m.reason ?? ''
          exitCode = typeof m.code === 'number' ? m.code : m.reason === 'exited' ? 0 : 255
        } else if (m.type === 'error') {
          io.stderr.write(`\r\ninfra-lab shell: ${m.message}\r\n`)
        }
      } catch {
        // ignore malformed control frames
      }
    })
    ws.on('unexpected-response', (_req, res) => {
      restore()
      io.stderr.write(`infra-lab shell: terminal refused with HTTP ${res.statusCode}\n`)
      resolve(1)
    })
    ws.on('error', (err) => {
      restore()
      io.stderr.write(`infra-lab shell: ${err.message}\n`)
      resolve(255)
    })
    ws.on('close', (code) => {
      restore()
      if (exitReason && exitReason !== 'exited') io.stderr.write(`\r\nsession ${sessionId} ended: ${exitReason}\r\n`)
      else if (!exitReason) io.stderr.write(`\r\nconnection to the gateway closed (${code}); the shell may still run: infra-lab shell --attach ${sessionId}\r\n`)
      resolve(exitCode)
    })
  })
}
